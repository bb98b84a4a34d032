"""The double's writes and streams as kubectl uses them: watches, followed logs, graceful pod
deletion, rollout undo, label and cordon patches, protobuf bodies, OpenAPI and field
validation."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    ManualClock,
    add_logs,
    deployment_pods,
    orion_prod,
    protobuf,
)
from bot.sandbox.doubles.kubernetes.openapi_v2 import RETURNED_MEDIA

from ..conftest import TABLE, rows, table, wait_for

NS = f"/api/v1/namespaces/{ORION_PROD}"
APPS = f"/apis/apps/v1/namespaces/{ORION_PROD}"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}
REVISION = "deployment.kubernetes.io/revision"
CAUSE = "kubernetes.io/change-cause"


@pytest.fixture
def orion(manual_cluster: Cluster, manual_double: KubernetesDouble) -> Cluster:
    return orion_prod(manual_cluster)


def events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """The next `count` watch events (blocks until the double sends them)."""
    return [json.loads(next(lines)) for _ in range(count)]


def pod_names(cluster: Cluster, app: str) -> list[str]:
    return [p["metadata"]["name"] for p in deployment_pods(cluster, ORION_PROD, app)]


# -- watch ------------------------------------------------------------------------------------
def test_watch_a_list_then_its_changes(http, orion):
    victim = pod_names(orion, "orders-api")[0]
    query = {"watch": "true", "labelSelector": "app=orders-api"}
    with http.stream("GET", f"{NS}/pods", params=query) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        initial = events(lines, 2)
        assert [e["type"] for e in initial] == ["ADDED", "ADDED"]
        http.patch(
            f"{NS}/pods/{victim}", json={"metadata": {"labels": {"team": "orders"}}}, headers=SMP
        )
        (labelled,) = events(lines, 1)
        assert labelled["type"] == "MODIFIED"
        assert labelled["object"]["metadata"]["labels"]["team"] == "orders"
        http.delete(f"{NS}/pods/{victim}", params={"gracePeriodSeconds": "0"})
        kinds = {(e["type"], e["object"]["metadata"]["name"] == victim) for e in events(lines, 2)}
        assert ("DELETED", True) in kinds  # and the ReplicaSet's replacement, ADDED
    assert "ADDED" in {k for k, _ in kinds}


def test_a_watcher_that_goes_away_ends_its_watch_quietly(http, orion, caplog):
    """`kubectl get pods -w` stopped with Ctrl-C, then the cluster changes: the double's
    console showed a traceback for each such watch (a write to a closed connection)."""
    victim = pod_names(orion, "orders-api")[0]
    before = len(orion._listeners)
    with http.stream("GET", f"{NS}/pods", params={"watch": "true"}) as response:
        events(response.iter_lines(), 1)
        assert len(orion._listeners) == before + 1
    with caplog.at_level(logging.ERROR):
        http.patch(f"{NS}/pods/{victim}", json={"metadata": {"labels": {"x": "1"}}}, headers=SMP)
        wait_for(lambda: len(orion._listeners) == before)  # the watch has ended
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_watch_from_a_resource_version_replays_and_follows_selectors(http, orion):
    listed = http.get(f"{NS}/pods", params={"labelSelector": "team=payments"}).json()
    rv = listed["metadata"]["resourceVersion"]
    assert listed["items"] == []
    name = pod_names(orion, "checkout")[0]
    http.patch(
        f"{NS}/pods/{name}", json={"metadata": {"labels": {"team": "payments"}}}, headers=SMP
    )
    http.patch(f"{NS}/pods/{name}", json={"metadata": {"labels": {"team": None}}}, headers=SMP)
    query = {"watch": "1", "resourceVersion": rv, "labelSelector": "team=payments"}
    with http.stream("GET", f"{NS}/pods", params=query) as response:
        entered, left = events(response.iter_lines(), 2)
    assert (entered["type"], left["type"]) == ("ADDED", "DELETED")  # into, then out of, the set
    assert entered["object"]["metadata"]["name"] == left["object"]["metadata"]["name"] == name


def test_watch_one_object_as_table_rows(http, orion):
    name = pod_names(orion, "checkout")[0]
    query = {"watch": "true", "fieldSelector": f"metadata.name={name}"}
    with http.stream("GET", f"{NS}/pods", params=query, headers={"Accept": TABLE}) as response:
        assert response.headers["content-type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
        lines = response.iter_lines()
        (first,) = events(lines, 1)
        assert first["object"]["kind"] == "Table"
        assert first["object"]["rows"][0]["cells"][:3] == [name, "1/1", "Running"]
        http.delete(f"{NS}/pods/{name}")
        (terminating,) = events(lines, 1)
    assert terminating["type"] == "MODIFIED"
    assert terminating["object"]["rows"][0]["cells"][2] == "Terminating"


def test_a_watch_from_before_the_history_is_gone(http, orion):
    orion.history = deque(orion.history, maxlen=3)
    rv = orion.resource_version
    for team in ("a", "b", "c", "d"):
        http.patch(
            f"{APPS}/deployments/search", json={"metadata": {"labels": {"team": team}}}, headers=SMP
        )
    query = {"watch": "true", "resourceVersion": rv}
    with http.stream("GET", f"{APPS}/deployments", params=query) as response:
        (error,) = events(response.iter_lines(), 1)
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")


def test_metrics_cannot_be_watched(http, orion):
    watched = http.get(
        f"/apis/metrics.k8s.io/v1beta1/namespaces/{ORION_PROD}/pods", params={"watch": "true"}
    )
    assert watched.status_code == 405


def test_logs_follow_until_the_pod_is_gone(http, orion):
    name = pod_names(orion, "checkout")[0]
    query = {"follow": "true", "tailLines": "1"}
    with http.stream("GET", f"{NS}/pods/{name}/log", params=query) as response:
        lines = response.iter_lines()
        assert '"POST /api/checkout"' in next(lines)
        add_logs(orion, ORION_PROD, name, ["INFO recovered", "INFO steady"])
        assert [next(lines), next(lines)] == ["INFO recovered", "INFO steady"]
        http.delete(f"{NS}/pods/{name}", params={"gracePeriodSeconds": "0"})
        assert list(lines) == []  # the stream ends with the pod


# -- writes -----------------------------------------------------------------------------------
def test_deleting_a_pod_is_graceful_on_the_cluster_clock(http, orion, clock: ManualClock):
    victim = pod_names(orion, "checkout")[0]
    deleted = http.delete(f"{NS}/pods/{victim}")
    assert deleted.status_code == 200
    meta = deleted.json()["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30
    assert meta["deletionTimestamp"] == "2026-01-15T09:00:30Z"  # now + the grace period

    def with_replacement() -> dict[str, Any] | None:  # the ReplicaSet counts it gone at once
        pods = rows(table(http, f"{NS}/pods", labelSelector="app=checkout"))
        return pods if len(pods) == 4 else None

    assert wait_for(with_replacement)[victim]["Status"] == "Terminating"
    again = http.delete(f"{NS}/pods/{victim}").json()["metadata"]  # a second delete changes nothing
    assert again["deletionTimestamp"] == meta["deletionTimestamp"]
    clock.advance(1)  # the simulated kubelet has stopped its container
    gone = http.get(f"{NS}/pods/{victim}")
    assert gone.status_code == 404
    assert (
        len(http.get(f"{NS}/pods", params={"labelSelector": "app=checkout"}).json()["items"]) == 3
    )


def test_grace_zero_and_dry_run_deletes(http, orion):
    first, second = pod_names(orion, "orders-api")
    http.delete(f"{NS}/pods/{first}", params={"dryRun": "All"})
    assert "deletionTimestamp" not in http.get(f"{NS}/pods/{first}").json()["metadata"]
    now = http.request("DELETE", f"{NS}/pods/{second}", json={"gracePeriodSeconds": 0})
    assert now.json()["metadata"]["deletionGracePeriodSeconds"] == 0
    assert http.get(f"{NS}/pods/{second}").status_code == 404


def test_rollout_undo_reuses_the_old_revision_as_the_deployment_controller_does(
    http, orion, clock: ManualClock
):
    replica_sets = http.get(f"{APPS}/replicasets", params={"labelSelector": "app=checkout"}).json()
    old = next(rs for rs in replica_sets["items"] if rs["metadata"]["annotations"][REVISION] == "2")
    template = old["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    template["metadata"]["creationTimestamp"] = None  # as kubectl's Go types serialise it
    template["spec"]["containers"][0]["resources"]["claims"] = []
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {CAUSE: old["metadata"]["annotations"][CAUSE], REVISION: "3"},
        },
    ]
    response = http.patch(
        f"{APPS}/deployments/checkout",
        json=patch,
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    for _ in range(10):
        clock.advance(1)
        table(http, f"{APPS}/deployments")  # a read lets the controllers catch up
    after = http.get(f"{APPS}/replicasets", params={"labelSelector": "app=checkout"}).json()
    revisions = {rs["metadata"]["annotations"][REVISION]: rs for rs in after["items"]}
    assert sorted(revisions) == ["1", "3", "4"]
    assert revisions["4"]["metadata"]["name"] == old["metadata"]["name"]
    assert revisions["4"]["spec"]["replicas"] == 3


def test_label_and_cordon_are_patches(http, orion):
    label = {"metadata": {"labels": {"tier": "prod"}}}
    labelled = http.patch("/api/v1/namespaces/orion-prod", json=label, headers=SMP)
    assert labelled.status_code == 200 and labelled.json()["metadata"]["labels"]["tier"] == "prod"
    cordoned = http.patch(
        "/api/v1/nodes/node-1", json={"spec": {"unschedulable": True}}, headers=SMP
    )
    assert cordoned.json()["spec"] == {"unschedulable": True}
    assert rows(table(http, "/api/v1/nodes"))["node-1"]["Status"] == "Ready,SchedulingDisabled"
    service = http.patch(
        f"{NS}/services/checkout",
        json={"metadata": {"annotations": {"a": "b"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert service.json()["metadata"]["annotations"] == {"a": "b"}
    events = http.patch(f"{NS}/endpoints/checkout", json={}, headers=SMP)
    assert events.status_code == 405  # not everything is writable


# -- protobuf -----------------------------------------------------------------------------------
def _field(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, raw)


def test_auth_can_i_in_protobuf_is_answered(http, orion):
    attributes = _field(1, b"orion-prod") + _field(2, b"delete") + _field(5, b"pods")
    attributes += _field(3, b"")  # an empty group, as gogo-protobuf always writes it
    review = _field(1, _field(4, b"")) + _field(2, _field(1, attributes)) + _field(3, b"")
    response = http.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        content=_envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", review),
        headers={"Content-Type": protobuf.MEDIA, "Accept": f"{protobuf.MEDIA},application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"]["allowed"] is True
    assert body["spec"]["resourceAttributes"] == {
        "namespace": "orion-prod",
        "verb": "delete",
        "resource": "pods",
    }


def test_protobuf_the_double_cannot_decode_is_a_415(http, orion):
    configmap = _envelope("v1", "ConfigMap", _field(1, _field(1, b"settings")))
    response = http.post(
        f"{NS}/configmaps", content=configmap, headers={"Content-Type": protobuf.MEDIA}
    )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"
    namespace = _envelope("v1", "Namespace", _field(1, _field(1, b"x")) + _field(9, b"data"))
    unknown_field = http.post(
        "/api/v1/namespaces", content=namespace, headers={"Content-Type": protobuf.MEDIA}
    )
    assert unknown_field.status_code == 415
    garbage = _envelope("v1", "Namespace", _field(1, _field(1, b"\xff\xfe")))
    malformed = http.post(
        "/api/v1/namespaces", content=garbage, headers={"Content-Type": protobuf.MEDIA}
    )
    assert malformed.status_code == 415 and "malformed protobuf" in malformed.json()["message"]


# -- OpenAPI and field validation -------------------------------------------------------------
def test_openapi_v3_declares_what_kubectl_checks(http, orion):
    index = http.get("/openapi/v3").json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/autoscaling/v2"} <= set(index)
    document = http.get(index["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    schemas = document["components"]["schemas"]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}
    ]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"


def test_openapi_v2_as_json_and_as_gnostic_protobuf(http, orion):
    document = http.get("/openapi/v2", headers={"Accept": "application/json"}).json()
    assert document["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.Deployment" in document["definitions"]
    encoded = http.get(
        "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )
    assert encoded.headers["content-type"] == RETURNED_MEDIA
    fields = {number: value for number, _, value in protobuf._fields(encoded.content)}
    assert fields[1] == b"2.0"  # Document.swagger
    definitions = protobuf._fields(fields[9])  # Document.definitions: NamedSchema entries
    names = {dict((n, v) for n, _, v in protobuf._fields(entry))[1] for _, _, entry in definitions}
    assert len(names) == len(document["definitions"]) and b"io.k8s.api.core.v1.Pod" in names


def test_strict_field_validation_rejects_unknown_fields(http, orion):
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "worker"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"app": "worker"}},
            "template": {
                "metadata": {"labels": {"app": "worker"}},
                "spec": {"containers": [{"name": "w", "image": "worker:1", "imagePolicy": "x"}]},
            },
        },
    }
    strict = http.post(f"{APPS}/deployments", params={"fieldValidation": "Strict"}, json=manifest)
    assert strict.status_code == 400
    assert strict.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.replica", unknown field "spec.template.spec.containers[0].imagePolicy"'
    )
    warned = http.post(f"{APPS}/deployments", json=manifest)
    assert warned.status_code == 201  # stored without the fields it does not know, with warnings
    assert warned.headers["Warning"].startswith('299 - "unknown field \\"spec.replica\\""')
    assert "replica" not in warned.json()["spec"]
    patched = http.patch(
        f"{APPS}/deployments/worker",
        params={"fieldValidation": "Strict"},
        json={"spec": {"paused": True, "pasued": True}},
        headers=SMP,
    )
    assert patched.status_code == 400 and 'unknown field "spec.pasued"' in patched.json()["message"]


def test_http_client_is_plain(http: httpx.Client, orion):
    assert http.get("/version").json()["gitVersion"] == "v1.37.0"


def test_deleting_a_deployment_cascades_unless_orphaned(http, orion, clock: ManualClock):
    http.request("DELETE", f"{APPS}/deployments/payments", json={"propagationPolicy": "Background"})
    assert (
        http.get(f"{APPS}/replicasets", params={"labelSelector": "app=payments"}).json()["items"]
        == []
    )
    pods = rows(table(http, f"{NS}/pods", labelSelector="app=payments"))
    assert {p["Status"] for p in pods.values()} == {"Terminating"}
    clock.advance(1)
    assert wait_for(
        lambda: not http.get(f"{NS}/pods", params={"labelSelector": "app=payments"}).json()["items"]
    )
    http.request("DELETE", f"{APPS}/deployments/search", json={"propagationPolicy": "Orphan"})
    orphans = http.get(f"{APPS}/replicasets", params={"labelSelector": "app=search"}).json()
    assert len(orphans["items"]) == 1
