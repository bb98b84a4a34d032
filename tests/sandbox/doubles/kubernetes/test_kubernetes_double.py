"""Reads against the double through the official client: the diagnostics the bot runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    add_deployment,
    add_logs,
    deployment_pods,
    mark_crash_loop,
    mark_image_pull_backoff,
    orion_prod,
    write_kubeconfig,
)

from .conftest import SchemaValidator, name_of


@pytest.fixture
def orion(cluster: Cluster, double: KubernetesDouble) -> Cluster:
    return orion_prod(cluster)


def names(items: list[client.V1Pod]) -> set[str | None]:
    return {item.metadata.name for item in items}


def test_list_pods_with_label_selectors(k8s, orion):
    core = client.CoreV1Api(k8s)
    checkout = core.list_namespaced_pod(ORION_PROD, label_selector="app=checkout").items
    assert len(checkout) == 3
    assert all(p.metadata.name.startswith("checkout-") for p in checkout)
    both = core.list_namespaced_pod(ORION_PROD, label_selector="app in (checkout, orders-api)")
    assert len(both.items) == 5
    others = core.list_namespaced_pod(ORION_PROD, label_selector="app notin (search),app!=checkout")
    assert {p.metadata.labels["app"] for p in others.items} == {
        "task-service",
        "orders-api",
        "payments",
    }
    assert core.list_namespaced_pod(ORION_PROD, label_selector="!pod-template-hash").items == []
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=orders-api")
    assert names(everywhere.items) == names(
        core.list_namespaced_pod(ORION_PROD, label_selector="app=orders-api").items
    )
    assert core.list_namespaced_pod("elsewhere").items == []


def test_field_selectors_on_pods_and_events(k8s, orion):
    core = client.CoreV1Api(k8s)
    pod = core.list_namespaced_pod(ORION_PROD, label_selector="app=payments").items[0]
    by_name = core.list_namespaced_pod(
        ORION_PROD, field_selector=f"metadata.name={pod.metadata.name}"
    )
    assert names(by_name.items) == {pod.metadata.name}
    assert (
        len(core.list_namespaced_pod(ORION_PROD, field_selector="status.phase=Running").items) == 20
    )
    assert core.list_namespaced_pod(ORION_PROD, field_selector="status.phase!=Running").items == []
    events = core.list_namespaced_event(
        ORION_PROD,
        field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod.metadata.name},type=Warning",
    ).items
    assert [(e.reason, e.type) for e in events] == [("Unhealthy", "Warning")]
    assert events[0].message.startswith("Readiness probe failed: ")
    assert events[0].count == 30
    assert events[0].first_timestamp < events[0].last_timestamp
    assert events[0].involved_object.uid == pod.metadata.uid


def test_pod_details_describe_the_failures(k8s, orion):
    core = client.CoreV1Api(k8s)
    oom = core.list_namespaced_pod(ORION_PROD, label_selector="app=task-service").items[0]
    status = oom.status.container_statuses[0]
    assert status.restart_count >= 4
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.exit_code == 137
    assert oom.spec.containers[0].resources.limits["memory"] == "512Mi"
    payments = core.list_namespaced_pod(ORION_PROD, label_selector="app=payments").items
    assert all(not p.status.container_statuses[0].ready for p in payments)
    ready = {c.type: c.status for c in payments[0].status.conditions}
    assert ready["Ready"] == "False"


def test_waiting_states(k8s, cluster, double):
    add_deployment(cluster, "ns", "api", replicas=2)
    first, second = (p["metadata"]["name"] for p in deployment_pods(cluster, "ns", "api"))
    mark_crash_loop(cluster, "ns", first)
    mark_image_pull_backoff(cluster, "ns", second)
    core = client.CoreV1Api(k8s)
    crashing = core.read_namespaced_pod(first, "ns").status.container_statuses[0]
    assert crashing.state.waiting.reason == "CrashLoopBackOff"
    assert crashing.last_state.terminated.exit_code == 1
    pulling = core.read_namespaced_pod(second, "ns")
    assert pulling.status.phase == "Pending"
    assert pulling.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(second, "ns")
    assert raised.value.status == 400
    assert "is waiting to start: trying and failing to pull image" in raised.value.body
    deployment = client.AppsV1Api(k8s).read_namespaced_deployment("api", "ns")
    assert deployment.status.ready_replicas is None
    assert deployment.status.unavailable_replicas == 2


def test_get_missing_pod_is_a_not_found_status(k8s, orion):
    with pytest.raises(ApiException) as raised:
        client.CoreV1Api(k8s).read_namespaced_pod("nope", ORION_PROD)
    assert raised.value.status == 404
    assert '"reason":"NotFound"' in raised.value.body.replace(" ", "")
    assert 'pods \\"nope\\" not found' in raised.value.body


def test_logs_tail_since_previous_and_timestamps(k8s, cluster, double):
    add_deployment(cluster, "ns", "worker", replicas=1)
    pod = deployment_pods(cluster, "ns", "worker")[0]["metadata"]["name"]
    add_logs(cluster, "ns", pod, [f"line {i}" for i in range(10)], interval=60)
    core = client.CoreV1Api(k8s)
    assert core.read_namespaced_pod_log(pod, "ns", tail_lines=2) == "line 8\nline 9\n"
    assert core.read_namespaced_pod_log(pod, "ns", since_seconds=150) == "line 7\nline 8\nline 9\n"
    stamped = core.read_namespaced_pod_log(pod, "ns", tail_lines=1, timestamps=True)
    assert stamped.endswith("Z line 9\n") and stamped[:4].isdigit()
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(pod, "ns", previous=True)
    assert raised.value.status == 400
    assert f'previous terminated container \\"worker\\" in pod \\"{pod}\\" not found' in (
        raised.value.body
    )
    add_logs(cluster, "ns", pod, ["fatal: out of memory"], previous=True)
    assert core.read_namespaced_pod_log(pod, "ns", previous=True, container="worker") == (
        "fatal: out of memory\n"
    )
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(pod, "ns", container="sidecar")
    assert raised.value.status == 400


def test_scenario_logs(k8s, orion):
    core = client.CoreV1Api(k8s)
    checkout = core.list_namespaced_pod(ORION_PROD, label_selector="app=checkout").items[0]
    log = core.read_namespaced_pod_log(name_of(checkout), ORION_PROD, tail_lines=30)
    assert log.count(" 500 ") >= 15
    orders = core.list_namespaced_pod(ORION_PROD, label_selector="app=orders-api").items[0]
    assert "connection pool exhausted" in core.read_namespaced_pod_log(name_of(orders), ORION_PROD)
    task = core.list_namespaced_pod(ORION_PROD, label_selector="app=task-service").items[0]
    previous = core.read_namespaced_pod_log(name_of(task), ORION_PROD, previous=True)
    assert "heap usage 97%" in previous


def test_services_endpoints_and_namespaces(k8s, orion):
    core = client.CoreV1Api(k8s)
    assert core.read_namespaced_service("payments", ORION_PROD).spec.selector == {"app": "payments"}
    payments = core.read_namespaced_endpoints("payments", ORION_PROD)
    assert payments.subsets[0].addresses is None
    assert len(payments.subsets[0].not_ready_addresses or []) == 2
    checkout = core.read_namespaced_endpoints("checkout", ORION_PROD)
    assert len(checkout.subsets[0].addresses or []) == 3
    assert checkout.subsets[0].addresses[0].target_ref.kind == "Pod"
    assert ORION_PROD in {ns.metadata.name for ns in core.list_namespace().items}
    assert {n.metadata.name for n in core.list_node().items} == {"node-1", "node-2"}


def test_replicasets_carry_revision_history(k8s, orion):
    apps = client.AppsV1Api(k8s)
    deployment = apps.read_namespaced_deployment("checkout", ORION_PROD)
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    replica_sets = apps.list_namespaced_replica_set(ORION_PROD, label_selector="app=checkout").items
    by_revision = {
        int(rs.metadata.annotations["deployment.kubernetes.io/revision"]): rs for rs in replica_sets
    }
    assert sorted(by_revision) == [1, 2, 3]
    assert by_revision[3].spec.replicas == 3 and by_revision[1].spec.replicas == 0
    assert by_revision[3].spec.template.spec.containers[0].image.endswith("checkout:2.4.0")
    assert (
        by_revision[3].metadata.annotations["kubernetes.io/change-cause"].startswith("deploy 2.4.0")
    )
    owner = by_revision[2].metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == (
        "Deployment",
        "checkout",
        deployment.metadata.uid,
    )
    hash_label = by_revision[3].metadata.labels["pod-template-hash"]
    assert by_revision[3].metadata.name == f"checkout-{hash_label}"


def test_hpa_pinned_at_max(k8s, orion):
    hpa = client.AutoscalingV2Api(k8s).read_namespaced_horizontal_pod_autoscaler(
        "search", ORION_PROD
    )
    assert hpa.status.current_replicas == hpa.spec.max_replicas == 10
    assert hpa.status.current_metrics[0].resource.current.average_utilization == 96
    limited = next(c for c in hpa.status.conditions if c.type == "ScalingLimited")
    assert (limited.status, limited.reason) == ("True", "TooManyReplicas")
    listed = client.AutoscalingV2Api(k8s).list_horizontal_pod_autoscaler_for_all_namespaces()
    assert [h.metadata.name for h in listed.items] == ["search"]


def test_pod_and_node_metrics(k8s, orion, schema_validator: SchemaValidator):
    custom = client.CustomObjectsApi(k8s)
    pods = custom.list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", ORION_PROD, "pods", label_selector="app=task-service"
    )
    assert pods["kind"] == "PodMetricsList" and len(pods["items"]) == 3
    usage = pods["items"][0]["containers"][0]["usage"]
    assert usage["cpu"] == "180000000n"
    assert usage["memory"].endswith("Ki") and int(usage["memory"][:-2]) // 1024 >= 480
    one = custom.get_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", ORION_PROD, "pods", pods["items"][0]["metadata"]["name"]
    )
    assert one["kind"] == "PodMetrics"
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert {n["metadata"]["name"]: n["usage"]["cpu"] for n in nodes["items"]} == {
        "node-1": "1200000000n",
        "node-2": "3100000000n",
    }
    assert schema_validator.skipped >= 5


def test_events_v1_and_discovery(k8s, orion):
    events = client.EventsV1Api(k8s).list_namespaced_event(ORION_PROD).items
    assert any(e.reason == "Unhealthy" and e.regarding.kind == "Pod" for e in events)
    assert client.VersionApi(k8s).get_code().git_version == "v1.37.0"
    assert client.CoreApi(k8s).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(k8s).get_api_versions().groups}
    assert {"apps", "autoscaling", "metrics.k8s.io"} <= groups
    resources = client.AppsV1Api(k8s).get_api_resources().resources
    assert {"deployments", "deployments/scale", "replicasets"} <= {r.name for r in resources}


def test_kubeconfig_points_at_the_double(tmp_path, double, orion):
    from kubernetes import config

    path = write_kubeconfig(tmp_path / "kubeconfig", double.base_url, namespace=ORION_PROD)
    api = config.new_client_from_config(config_file=str(path), context="fireline-double")  # type: ignore[no-untyped-call]  # kubernetes leaves it untyped
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(ORION_PROD, label_selector="app=search")
        assert len(pods.items) == 10
    finally:
        api.close()
    assert double.requests.find("list", "/pods$")[-1].query["labelSelector"] == "app=search"


def test_validator_rejects_invalid_objects(k8s, cluster, double, schema_validator):
    add_deployment(cluster, "ns", "api", replicas=1)
    pod = deployment_pods(cluster, "ns", "api")[0]
    pod["spec"]["containers"][0]["imagePullPolicy"] = 42  # wrong type
    pod["spec"]["sidecarMode"] = "yes"  # unknown field: strict mode rejects it
    cluster.update(pod)
    with pytest.raises(ApiException) as raised:
        client.CoreV1Api(k8s).read_namespaced_pod(pod["metadata"]["name"], "ns")
    assert raised.value.status == 500
    assert len(schema_validator.errors) == 1
    assert schema_validator.errors[0].startswith(f"Pod/{pod['metadata']['name']}")
    schema_validator.errors.clear()  # expected failure; keep the autouse check green


def test_manual_clock_makes_controllers_deterministic():
    from bot.sandbox.doubles.kubernetes import ManualClock, Timing, reconcile

    clock = ManualClock()
    cluster = Cluster(clock, timing=Timing(rollout_step=10, pod_ready=5))
    add_deployment(cluster, "ns", "api", replicas=2)
    deployment = cluster.require("apps/v1", "Deployment", "ns", "api")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "api:2"
    cluster.update(deployment)
    reconcile(cluster)
    status = cluster.require("apps/v1", "Deployment", "ns", "api")["status"]
    assert (status["replicas"], status["updatedReplicas"], status.get("readyReplicas")) == (3, 1, 2)
    reconcile(cluster)  # time has not moved: nothing happens
    assert cluster.require("apps/v1", "Deployment", "ns", "api")["status"] == status
    for _ in range(10):
        clock.advance(10)
        reconcile(cluster)
    status = cluster.require("apps/v1", "Deployment", "ns", "api")["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2)
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert clock.now() - timedelta(seconds=100) < clock.now()


def test_controllers_skip_a_settled_cluster_until_something_they_read_changes(monkeypatch):
    """reconcile_if_due: the same rollout as above completes through it alone, and once the
    cluster is settled the controllers do not run again until a write or a due timer."""
    from bot.sandbox.doubles.kubernetes import ManualClock, Timing, controller

    runs: list[int] = []
    real = controller._reconcile

    def counted(c: Cluster) -> None:
        runs.append(1)
        real(c)

    monkeypatch.setattr(controller, "_reconcile", counted)
    clock = ManualClock()
    cluster = Cluster(clock, timing=Timing(rollout_step=10, pod_ready=5))
    add_deployment(cluster, "ns", "api", replicas=2)
    controller.reconcile_if_due(cluster)  # a run that writes nothing: settled
    assert controller.reconcile_if_due(cluster) is False
    deployment = cluster.require("apps/v1", "Deployment", "ns", "api")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "api:2"
    cluster.update(deployment)  # a write: the controllers must look
    assert controller.reconcile_if_due(cluster) is True
    for _ in range(10):
        clock.advance(10)  # timers (pod Ready, rollout steps) fall due as the clock moves
        while controller.reconcile_if_due(cluster):
            pass
    status = cluster.require("apps/v1", "Deployment", "ns", "api")["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (2, 2, 2)
    runs.clear()
    for _ in range(50):
        assert controller.reconcile_if_due(cluster) is False
    clock.advance(3600)  # a settled, complete cluster has nothing due at any time
    assert controller.reconcile_if_due(cluster) is False and runs == []
    pod = deployment_pods(cluster, "ns", "api")[0]
    cluster.delete("v1", "Pod", "ns", pod["metadata"]["name"])  # the ReplicaSet must replace it
    assert controller.reconcile_if_due(cluster) is True
    assert len(deployment_pods(cluster, "ns", "api")) == 2
