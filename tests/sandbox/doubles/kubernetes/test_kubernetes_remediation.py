"""Writes against the double: restarts, rollbacks, scaling, pod deletes, dry runs, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    ManualClock,
    Timing,
    orion_prod,
)

from .conftest import name_of, wait_for

REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The conftest's fast wall-clock cluster, or one on the manual clock a test asks for."""
    if "clock" in request.fixturenames:
        clock = request.getfixturevalue("clock")
        return Cluster(clock, timing=Timing(rollout_step=1, pod_ready=1))
    return Cluster(timing=Timing(rollout_step=0.02, pod_ready=0.02))


@pytest.fixture
def orion(cluster: Cluster, double: KubernetesDouble) -> Cluster:
    return orion_prod(cluster)


def rollout_complete(apps: client.AppsV1Api, name: str) -> client.V1Deployment | None:
    """The checks `kubectl rollout status` makes."""
    d = apps.read_namespaced_deployment(name, ORION_PROD)
    s = d.status
    done = (
        s.observed_generation >= d.metadata.generation
        and s.updated_replicas == d.spec.replicas
        and s.replicas == s.updated_replicas
        and s.available_replicas == s.updated_replicas
    )
    return d if done else None


def replica_sets(apps: client.AppsV1Api, name: str) -> dict[int, client.V1ReplicaSet]:
    items = apps.list_namespaced_replica_set(ORION_PROD, label_selector=f"app={name}").items
    return {int(rs.metadata.annotations[REVISION]): rs for rs in items}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_restart_creates_a_new_replica_set_and_rolls_out(k8s, orion, clock):
    """On the manual clock the rollout cannot finish before the first read sees it unfinished,
    however slow or fast the machine; then the clock moves as `kubectl rollout status` waits."""
    apps = client.AppsV1Api(k8s)
    before = apps.read_namespaced_deployment("orders-api", ORION_PROD)
    restarted_at = datetime.now(UTC).isoformat()
    body = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": restarted_at}}
            }
        }
    }
    patched = apps.patch_namespaced_deployment("orders-api", ORION_PROD, body)
    assert patched.metadata.generation == before.metadata.generation + 1
    assert patched.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == (
        restarted_at
    )
    assert patched.spec.template.spec.containers[0].env[0].name == "DB_POOL_SIZE"
    # Right after the patch the controller may not have observed the new generation yet (its
    # status then still describes the old template, as on a real cluster) or may be rolling:
    # either way `kubectl rollout status` must not call it done until the clock moves.
    assert rollout_complete(apps, "orders-api") is None

    def after_a_second() -> client.V1Deployment | None:
        clock.advance(1)
        return rollout_complete(apps, "orders-api")

    done = wait_for(after_a_second)
    conditions = {c.type: c for c in done.status.conditions}
    assert conditions["Available"].status == "True"
    assert conditions["Progressing"].reason == "NewReplicaSetAvailable"
    assert done.metadata.annotations[REVISION] == "2"
    history = replica_sets(apps, "orders-api")
    assert history[1].spec.replicas == 0 and history[2].spec.replicas == 2
    hash_label = history[2].metadata.labels["pod-template-hash"]

    def old_pods_gone() -> list[client.V1Pod] | None:
        """The last old pod is still Terminating when the rollout completes (as on a cluster:
        `kubectl rollout status` returns before it is gone); it goes once its containers stop."""
        pods = client.CoreV1Api(k8s).list_namespaced_pod(
            ORION_PROD, label_selector="app=orders-api"
        )
        if {p.metadata.labels["pod-template-hash"] for p in pods.items} == {hash_label}:
            return pods.items
        assert all(p.metadata.deletion_timestamp for p in pods.items
                   if p.metadata.labels["pod-template-hash"] != hash_label)  # fmt: skip
        clock.advance(1)
        return None

    pods = wait_for(old_pods_gone)
    assert all(p.metadata.annotations["kubectl.kubernetes.io/restartedAt"] for p in pods)


def test_rollback_to_an_older_revision_like_kubectl_undo(k8s, orion):
    apps = client.AppsV1Api(k8s)
    history = replica_sets(apps, "checkout")
    template = k8s.sanitize_for_serialization(history[2].spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {
            "op": "replace",
            "path": "/metadata/annotations/kubernetes.io~1change-cause",
            "value": "rollback to 2.3.0",
        },
    ]
    apps.patch_namespaced_deployment("checkout", ORION_PROD, patch)
    done = wait_for(lambda: rollout_complete(apps, "checkout"))
    assert done.spec.template.spec.containers[0].image.endswith("checkout:2.3.0")
    assert done.metadata.annotations[REVISION] == "4"
    after = replica_sets(apps, "checkout")
    assert sorted(after) == [1, 3, 4]  # revision 2 moved to the new max
    assert after[4].metadata.name == history[2].metadata.name
    assert after[4].metadata.annotations["kubernetes.io/change-cause"] == "rollback to 2.3.0"
    assert after[4].spec.replicas == 3 and after[3].spec.replicas == 0


def undo_to(apps: client.AppsV1Api, k8s, name: str, revision: int) -> None:
    """What `kubectl rollout undo --to-revision` sends: the revision's template, hash label out."""
    template = k8s.sanitize_for_serialization(replica_sets(apps, name)[revision].spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
    apps.patch_namespaced_deployment(name, ORION_PROD, patch)


def progressing(deployment: client.V1Deployment) -> client.V1DeploymentCondition:
    return next(c for c in deployment.status.conditions if c.type == "Progressing")


def test_a_rollback_is_dated_as_a_cluster_dates_it(k8s, orion, clock):
    """The reused ReplicaSet keeps its creation (days ago) and lists its former numbers in
    revision-history; the Progressing condition names it and moves with the rollback, and
    stays put through a later scale, as the deployment controller keeps it."""
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    made = replica_sets(apps, "checkout")[2].metadata.creation_timestamp
    clock.advance(600)
    rolled_back_at = clock.now()
    undo_to(apps, k8s, "checkout", 2)

    def after_a_second() -> client.V1Deployment | None:
        clock.advance(1)
        return rollout_complete(apps, "checkout")

    done = wait_for(after_a_second)
    current = replica_sets(apps, "checkout")[4]
    assert current.metadata.creation_timestamp == made  # 5 days ago: not the rollback's time
    assert current.metadata.annotations["deployment.kubernetes.io/revision-history"] == "2"
    condition = progressing(done)
    assert condition.reason == "NewReplicaSetAvailable"
    assert f'"{current.metadata.name}"' in condition.message
    assert rolled_back_at < condition.last_update_time <= clock.now()
    pods = core.list_namespaced_pod(
        ORION_PROD,
        label_selector=f"pod-template-hash={current.metadata.labels['pod-template-hash']}",
    ).items
    assert len(pods) == 3 and all(p.metadata.creation_timestamp >= rolled_back_at for p in pods)

    clock.advance(300)
    apps.patch_namespaced_deployment_scale("checkout", ORION_PROD, {"spec": {"replicas": 5}})
    scaled = wait_for(after_a_second)
    assert scaled.status.ready_replicas == 5
    assert progressing(scaled).to_dict() == condition.to_dict()  # a scale is no rollout

    undo_to(apps, k8s, "checkout", 3)  # back to 2.4.0, then to 2.3.0 once more
    wait_for(after_a_second)
    undo_to(apps, k8s, "checkout", 4)
    wait_for(after_a_second)
    history = replica_sets(apps, "checkout")
    assert sorted(history) == [1, 5, 6]
    assert history[6].metadata.annotations["deployment.kubernetes.io/revision-history"] == "2,4"
    assert history[5].metadata.annotations["deployment.kubernetes.io/revision-history"] == "3"


def test_scale_subresource(k8s, orion):
    apps = client.AppsV1Api(k8s)
    scale = apps.read_namespaced_deployment_scale("orders-api", ORION_PROD)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=orders-api")
    apps.patch_namespaced_deployment_scale("orders-api", ORION_PROD, {"spec": {"replicas": 4}})
    wait_for(lambda: rollout_complete(apps, "orders-api"))
    core = client.CoreV1Api(k8s)
    assert len(core.list_namespaced_pod(ORION_PROD, label_selector="app=orders-api").items) == 4
    scale = apps.read_namespaced_deployment_scale("orders-api", ORION_PROD)
    scale.spec.replicas = 1
    apps.replace_namespaced_deployment_scale("orders-api", ORION_PROD, scale)
    wait_for(
        lambda: (
            len(core.list_namespaced_pod(ORION_PROD, label_selector="app=orders-api").items) == 1
        )
    )
    assert (
        apps.read_namespaced_deployment("orders-api", ORION_PROD).metadata.annotations[REVISION]
        == "1"
    )


def test_deleted_pod_is_replaced_and_becomes_ready(k8s, orion):
    core = client.CoreV1Api(k8s)
    pods = core.list_namespaced_pod(ORION_PROD, label_selector="app=checkout").items
    victim = name_of(pods[0])
    deleted = core.delete_namespaced_pod(victim, ORION_PROD)
    assert deleted.metadata.deletion_timestamp is not None

    def replaced() -> list[client.V1Pod] | None:
        now = core.list_namespaced_pod(ORION_PROD, label_selector="app=checkout").items
        fresh = [p for p in now if p.metadata.name not in {q.metadata.name for q in pods}]
        ready = fresh and all(c.ready for c in fresh[0].status.container_statuses)
        return now if len(now) == 3 and ready else None

    now = wait_for(replaced)
    assert victim not in {p.metadata.name for p in now}
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod(victim, ORION_PROD)
    assert raised.value.status == 404


def test_dry_run_changes_nothing(k8s, orion, double):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    before = apps.read_namespaced_deployment("checkout", ORION_PROD)
    rv = double.cluster.resource_version
    body = {"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}
    result = apps.patch_namespaced_deployment("checkout", ORION_PROD, body, dry_run="All")
    assert result.spec.template.metadata.annotations == {"x": "y"}
    scaled = apps.patch_namespaced_deployment_scale(
        "checkout", ORION_PROD, {"spec": {"replicas": 9}}, dry_run="All"
    )
    assert scaled.spec.replicas == 9
    pod = core.list_namespaced_pod(ORION_PROD, label_selector="app=checkout").items[0]
    core.delete_namespaced_pod(name_of(pod), ORION_PROD, dry_run="All")
    core.read_namespaced_pod(name_of(pod), ORION_PROD)
    after = apps.read_namespaced_deployment("checkout", ORION_PROD)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec == before.spec and double.cluster.resource_version == rv
    assert len(replica_sets(apps, "checkout")) == 3
    assert all(r.query.get("dryRun") == "All" for r in double.requests.find("patch"))


def test_stale_resource_version_conflicts(k8s, orion):
    apps = client.AppsV1Api(k8s)
    stale = apps.read_namespaced_deployment("orders-api", ORION_PROD)
    apps.patch_namespaced_deployment("orders-api", ORION_PROD, {"metadata": {"labels": {"a": "b"}}})
    stale.spec.replicas = 5
    with pytest.raises(ApiException) as raised:
        apps.replace_namespaced_deployment("orders-api", ORION_PROD, stale)
    assert raised.value.status == 409
    assert "the object has been modified" in raised.value.body
    assert '"reason":"Conflict"' in raised.value.body.replace(" ", "")
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment(
            "orders-api",
            ORION_PROD,
            {
                "metadata": {"resourceVersion": stale.metadata.resource_version},
                "spec": {"replicas": 5},
            },
        )
    assert raised.value.status == 409
    fresh = apps.read_namespaced_deployment("orders-api", ORION_PROD)
    fresh.spec.replicas = 3
    assert apps.replace_namespaced_deployment("orders-api", ORION_PROD, fresh).spec.replicas == 3


def test_merge_patch_and_invalid_values(k8s, orion):
    apps = client.AppsV1Api(k8s)
    merged = apps.patch_namespaced_deployment(
        "search",
        ORION_PROD,
        {"metadata": {"annotations": {"owner": "team-search"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.annotations["owner"] == "team-search"
    with pytest.raises(ApiException) as raised:
        apps.patch_namespaced_deployment("search", ORION_PROD, {"spec": {"replicas": -1}})
    assert raised.value.status == 422
    assert 'Deployment.apps \\"search\\" is invalid: spec.replicas' in raised.value.body
