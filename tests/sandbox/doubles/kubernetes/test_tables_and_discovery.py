"""The double's reads as kubectl asks for them: Tables with the API server's columns and cells,
discovery with short names, categories and the aggregated form, pagination, field labels."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.sandbox.doubles.kubernetes import (
    ORION_PROD,
    Cluster,
    KubernetesDouble,
    ManualClock,
    add_deployment,
    deployment_pods,
    mark_crash_loop,
    mark_image_pull_backoff,
    orion_prod,
)
from bot.sandbox.doubles.kubernetes.tables.cells import human_duration

from ..conftest import rows, table

NS = f"/api/v1/namespaces/{ORION_PROD}"
APPS = f"/apis/apps/v1/namespaces/{ORION_PROD}"


@pytest.fixture
def orion(manual_cluster: Cluster, manual_double: KubernetesDouble) -> Cluster:
    return orion_prod(manual_cluster)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 60, "5h1m"),
        (30 * 3600, "30h"),
        (3 * 86400, "3d"),
        (3 * 86400 + 7200, "3d2h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_ages_read_as_kubectl_shows_them(seconds, shown):
    assert human_duration(seconds) == shown


def test_pods_table_shows_oom_kills_crash_loops_and_pull_failures(http, orion):
    orders = [p["metadata"]["name"] for p in deployment_pods(orion, ORION_PROD, "orders-api")]
    mark_crash_loop(orion, ORION_PROD, orders[0], restarts=7)
    mark_image_pull_backoff(orion, ORION_PROD, orders[1])
    body = table(http, f"{NS}/pods")
    columns = [(c["name"], c["priority"]) for c in body["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    by_name = rows(body)
    task = sorted(n for n in by_name if n.startswith("task-service-"))
    oom = by_name[task[0]]
    assert (oom["Ready"], oom["Status"], oom["Age"]) == ("1/1", "Running", "60m")
    assert oom["Restarts"] in {"4 (90s ago)", "5 (2m30s ago)", "6 (3m30s ago)"}
    crash = by_name[orders[0]]
    assert (crash["Ready"], crash["Status"], crash["Restarts"]) == (
        "0/1",
        "CrashLoopBackOff",
        "7 (30s ago)",
    )
    assert (by_name[orders[1]]["Ready"], by_name[orders[1]]["Status"]) == (
        "0/1",
        "ImagePullBackOff",
    )
    payments = next(v for k, v in by_name.items() if k.startswith("payments-"))
    assert (payments["Ready"], payments["Status"]) == ("0/1", "Running")
    assert payments["IP"].startswith("10.244.") and payments["Node"] == "node-1"
    assert payments["Nominated Node"] == payments["Readiness Gates"] == "<none>"
    row = body["rows"][0]["object"]
    assert row["kind"] == "PartialObjectMetadata" and "spec" not in row


def test_table_rows_can_carry_the_whole_object_and_one_object_is_a_table_too(http, orion):
    full = table(http, f"{APPS}/deployments", includeObject="Object")
    assert {r["object"]["kind"] for r in full["rows"]} == {"Deployment"}
    one = table(http, f"{APPS}/deployments/checkout")
    assert [r["cells"][:5] for r in one["rows"]] == [["checkout", "3/3", 3, 3, "12d"]]
    plain = http.get(f"{APPS}/deployments/checkout").json()
    assert plain["kind"] == "Deployment"


def test_workload_tables(http, orion):
    deployments = rows(table(http, f"{APPS}/deployments"))
    assert deployments["checkout"] == {
        "Name": "checkout",
        "Ready": "3/3",
        "Up-to-date": 3,
        "Available": 3,
        "Age": "12d",
        "Containers": "checkout",
        "Images": "registry.orion.example.com/checkout:2.4.0",
        "Selector": "app=checkout",
    }
    assert deployments["payments"]["Ready"] == "0/2"
    replica_sets = rows(table(http, f"{APPS}/replicasets", labelSelector="app=checkout"))
    assert sorted(
        (r["Desired"], r["Current"], r["Ready"], r["Age"]) for r in replica_sets.values()
    ) == [
        (0, 0, 0, "12d"),
        (0, 0, 0, "5d"),
        (3, 3, 3, "22m"),
    ]
    assert all(
        r["Selector"].startswith("app=checkout,pod-template-hash=") for r in replica_sets.values()
    )
    hpa = rows(
        table(http, f"/apis/autoscaling/v2/namespaces/{ORION_PROD}/horizontalpodautoscalers")
    )
    assert hpa["search"] == {
        "Name": "search",
        "Reference": "Deployment/search",
        "Targets": "cpu: 96%/70%",
        "MinPods": "3",
        "MaxPods": 10,
        "Replicas": 10,
        "Age": "3d",
    }


def test_service_endpoint_node_namespace_and_event_tables(http, orion):
    services = rows(table(http, f"{NS}/services"))
    checkout = services["checkout"]
    assert (checkout["Type"], checkout["External-IP"], checkout["Port(s)"], checkout["Age"]) == (
        "ClusterIP",
        "<none>",
        "80/TCP",
        "12d",
    )
    assert checkout["Cluster-IP"].startswith("10.96.") and checkout["Selector"] == "app=checkout"
    endpoints = rows(table(http, f"{NS}/endpoints"))
    assert endpoints["payments"]["Endpoints"] == "<none>"  # none of its pods is ready
    shown = endpoints["checkout"]["Endpoints"].split(",")
    assert len(shown) == 3 and all(e.endswith(":8080") for e in shown)
    nodes = rows(table(http, "/api/v1/nodes"))
    assert nodes["node-1"] == {
        "Name": "node-1",
        "Status": "Ready",
        "Roles": "<none>",
        "Age": "30d",
        "Version": "v1.37.0",
        "Internal-IP": "10.0.0.11",
        "External-IP": "<none>",
        "OS-Image": "Ubuntu 24.04.2 LTS",
        "Kernel-Version": "6.8.0-1021-gke",
        "Container-Runtime": "containerd://2.1.4",
    }
    assert rows(table(http, "/api/v1/namespaces"))[ORION_PROD]["Status"] == "Active"
    events = table(http, f"{NS}/events", fieldSelector="reason=Unhealthy")
    names = [c["name"] for c in events["columnDefinitions"]]
    assert names[:4] == ["Last Seen", "Type", "Reason", "Object"]
    unhealthy = dict(zip(names, events["rows"][0]["cells"], strict=True))
    assert unhealthy["Type"] == "Warning" and unhealthy["Object"].startswith("pod/payments-")
    assert (unhealthy["Count"], unhealthy["First Seen"], unhealthy["Last Seen"]) == (
        30,
        "14m",
        "0s",
    )
    assert unhealthy["Source"] == "kubelet, node-1"
    v1 = table(
        http,
        f"/apis/events.k8s.io/v1/namespaces/{ORION_PROD}/events",
        fieldSelector="reason=Unhealthy",
    )
    assert v1["rows"][0]["cells"][:4] == events["rows"][0]["cells"][:4]


def test_ages_follow_the_cluster_clock(http, orion, clock: ManualClock):
    before = rows(table(http, f"{APPS}/deployments"))["orders-api"]["Age"]
    clock.advance(2 * 86400)
    assert (before, rows(table(http, f"{APPS}/deployments"))["orders-api"]["Age"]) == ("3d", "5d")


def test_discovery_names_short_names_and_categories(http, orion):
    core = http.get("/api/v1").json()
    entries = {r["name"]: r for r in core["resources"]}
    assert entries["pods"]["shortNames"] == ["po"] and entries["pods"]["categories"] == ["all"]
    assert (
        entries["namespaces"]["shortNames"] == ["ns"] and "categories" not in entries["namespaces"]
    )
    assert {"watch", "patch", "delete"} <= set(entries["pods"]["verbs"])
    assert entries["services"]["shortNames"] == ["svc"] and entries["nodes"]["shortNames"] == ["no"]
    assert entries["events"]["shortNames"] == ["ev"] and "pods/log" in entries
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"] and apps["replicasets"][
        "shortNames"
    ] == ["rs"]
    hpa = http.get("/apis/autoscaling/v2").json()["resources"][0]
    assert (hpa["shortNames"], hpa["categories"]) == (["hpa"], ["all"])


def test_aggregated_discovery_when_asked_for(http, orion):
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    response = http.get("/apis", headers={"Accept": accept})
    assert response.headers["content-type"] == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    document = response.json()
    assert document["kind"] == "APIGroupDiscoveryList"
    groups = [g["metadata"]["name"] for g in document["items"]]
    assert groups[0] == "apps" and "metrics.k8s.io" in groups
    deployments = document["items"][0]["versions"][0]["resources"][0]
    assert deployments["resource"] == "deployments" and deployments["shortNames"] == ["deploy"]
    assert deployments["scope"] == "Namespaced" and deployments["categories"] == ["all"]
    assert deployments["subresources"][0]["responseKind"]["kind"] == "Scale"
    core = http.get("/api", headers={"Accept": accept}).json()
    pods = next(r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert http.get("/api").json()["kind"] == "APIVersions"  # plain JSON when not asked for


def test_unknown_field_selector_is_a_bad_request(http, orion):
    response = http.get(f"{NS}/pods", params={"fieldSelector": "spec.foo=bar"})
    assert response.status_code == 400
    status = response.json()
    assert (status["reason"], status["message"]) == (
        "BadRequest",
        "field label not supported: spec.foo",
    )
    nodes = http.get("/api/v1/nodes", params={"fieldSelector": "status.phase=Running"})
    assert nodes.status_code == 400
    ok = http.get(
        f"{NS}/pods", params={"fieldSelector": "spec.nodeName=node-1,status.phase=Running"}
    )
    assert len(ok.json()["items"]) == 20
    events = http.get(f"{NS}/events", params={"fieldSelector": "source=kubelet,type=Warning"})
    assert events.status_code == 200 and events.json()["items"]


def test_limit_and_continue_page_through_a_list(http, orion):
    everything = [p["metadata"]["name"] for p in http.get(f"{NS}/pods").json()["items"]]
    seen: list[str] = []
    params = {"limit": "6"}
    pages = 0
    while True:
        page = http.get(f"{NS}/pods", params=params).json()
        pages += 1
        seen += [p["metadata"]["name"] for p in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            assert "remainingItemCount" not in page["metadata"]
            break
        assert page["metadata"]["remainingItemCount"] == len(everything) - len(seen)
        params = {"limit": "6", "continue": token}
    assert (seen, pages) == (everything, 4)
    tabled = table(http, f"{NS}/pods", limit="5")
    assert len(tabled["rows"]) == 5 and tabled["metadata"]["continue"]
    bad = http.get(f"{NS}/pods", params={"continue": "not-a-token"})
    assert bad.status_code == 400 and "continue key is not valid" in bad.json()["message"]


def test_served_objects_all_validate(http, orion, schema_validator):
    for path in (f"{NS}/pods", f"{APPS}/deployments", f"{NS}/services", "/api/v1/nodes"):
        table(http, path, includeObject="Object")
    assert schema_validator.validated == 30 and not schema_validator.errors


def test_created_objects_get_the_servers_defaults(http, manual_cluster, clock):
    add_deployment(manual_cluster, "team", "api", replicas=1)
    created = http.post(
        "/apis/apps/v1/namespaces/team/deployments",
        json={
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": None},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                },
            },
        },
    )
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["rollingUpdate"]["maxSurge"] == "25%"
    container = spec["template"]["spec"]["containers"][0]
    assert (container["imagePullPolicy"], container["terminationMessagePath"]) == (
        "Always",
        "/dev/termination-log",
    )
    service = http.post(
        "/api/v1/namespaces/team/services",
        content=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
            }
        ),
        headers={"Content-Type": "application/json"},
    ).json()
    assert service["spec"]["clusterIP"].startswith("10.96.")
    assert service["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    pod = http.post(
        "/api/v1/namespaces/team/pods",
        json={
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "debug"},
            "spec": {"containers": [{"name": "debug", "image": "busybox:1.36"}]},
        },
    ).json()
    assert pod["spec"]["nodeName"] == "node-1" and pod["status"]["phase"] == "Running"
    clock.advance(1)
    assert rows(table(http, "/api/v1/namespaces/team/pods"))["debug"]["Ready"] == "1/1"


def test_metrics_still_have_no_table_columns_of_their_own(http: httpx.Client, orion):
    body = table(http, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ORION_PROD}/pods")
    assert [c["name"] for c in body["columnDefinitions"]] == ["Name", "Created At"]
