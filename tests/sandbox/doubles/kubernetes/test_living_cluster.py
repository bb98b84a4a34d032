"""The living cluster (the sandbox's orion-prod): logs, usage, OOM kills and the controllers'
events follow from each workload's behaviour and the clock, read over real HTTP with the
official client, on a manual clock (every served object checked against the schemas)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client, watch

from bot.sandbox.doubles.kubernetes import Cluster, ManualClock, Timing
from bot.sandbox.doubles.kubernetes.life import MAX_LINES
from bot.sandbox.doubles.kubernetes.metrics import parse_cpu, parse_memory
from bot.sandbox.doubles.kubernetes.story import living_orion_prod

NS = "orion-prod"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def cluster(clock: ManualClock) -> Cluster:
    return living_orion_prod(Cluster(clock, timing=Timing(rollout_step=5, pod_ready=8)))


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def pods_of(core: Any, app: str) -> list[Any]:
    return [
        p
        for p in core.list_namespaced_pod(NS, label_selector=f"app={app}").items
        if p.metadata.deletion_timestamp is None
    ]


def events_about(core: Any, name: str) -> list[Any]:
    return [e for e in core.list_namespaced_event(NS).items if e.involved_object.name == name]


def memory_of(k8s: Any, pod: str) -> int:
    found: Any = client.CustomObjectsApi(k8s).get_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", pod
    )
    return parse_memory(found["containers"][0]["usage"]["memory"])


def test_pods_spread_over_nodes_within_allocatable_and_node_usage_is_their_sum(k8s: Any) -> None:
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    pods = core.list_namespaced_pod(NS).items
    nodes = {n.metadata.name: n for n in core.list_node().items}
    by_node: dict[str, list[Any]] = defaultdict(list)
    for pod in pods:
        by_node[pod.spec.node_name].append(pod)
        assert pod.status.host_ip == next(
            a.address for a in nodes[pod.spec.node_name].status.addresses if a.type == "InternalIP"
        )
    assert len(by_node) >= 2 and max(map(len, by_node.values())) < len(pods)
    custom: Any = client.CustomObjectsApi(k8s)
    pod_usage = {
        m["metadata"]["name"]: m["containers"][0]["usage"]
        for m in custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")[
            "items"
        ]
    }
    for node in custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]:
        name = node["metadata"]["name"]
        on_it = [p for p in by_node[name] if p.metadata.name in pod_usage]
        requested = sum(parse_cpu(p.spec.containers[0].resources.requests["cpu"]) for p in on_it)
        assert requested <= parse_cpu(nodes[name].status.allocatable["cpu"])
        cpu = sum(parse_cpu(pod_usage[p.metadata.name]["cpu"]) for p in on_it)
        memory = sum(parse_memory(pod_usage[p.metadata.name]["memory"]) for p in on_it)
        assert parse_cpu(node["usage"]["cpu"]) == cpu
        assert parse_memory(node["usage"]["memory"]) // 1024 == memory // 1024


def test_memory_climbs_until_the_oom_killer_restarts_the_container(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    pod = pods_of(core, "task-service")[0]
    name = pod.metadata.name
    restarts = pod.status.container_statuses[0].restart_count
    version = pod.metadata.resource_version
    assert restarts >= 3  # an hour of leaking before the sandbox opens
    assert pod.status.container_statuses[0].last_state.terminated.reason == "OOMKilled"
    before = memory_of(k8s, name)
    clock.advance(60)
    assert memory_of(k8s, name) > before  # it climbs

    for _ in range(25):  # at most 25 minutes, a minute at a time
        clock.advance(60)
        status = core.read_namespaced_pod(name, NS).status.container_statuses[0]
        if status.restart_count > restarts and status.state.running:
            break
    else:
        raise AssertionError("no OOM kill in 20 minutes")
    killed = status.last_state.terminated
    assert (killed.reason, killed.exit_code) == ("OOMKilled", 137)
    assert memory_of(k8s, name) < before  # a fresh container starts low
    previous = core.read_namespaced_pod_log(name, NS, previous=True).splitlines()
    assert any(line.startswith("WARN heap usage 9") for line in previous[-10:]), previous[-10:]
    [backoff] = [e for e in events_about(core, name) if e.reason == "BackOff"]
    assert backoff.count == status.restart_count and backoff.type == "Warning"
    assert backoff.first_timestamp >= pod.metadata.creation_timestamp
    assert backoff.last_timestamp == killed.finished_at
    # A watch sees the restart, as it would on a cluster (diagnose's kept pods follow it):
    # replayed from before it, the server ending the watch after a second.
    seen = [
        e["object"].status.container_statuses[0].restart_count
        for e in watch.Watch().stream(  # type: ignore[no-untyped-call]  # untyped in kubernetes
            core.list_namespaced_pod, NS, resource_version=version, timeout_seconds=1
        )
        if e["type"] == "MODIFIED" and e["object"].metadata.name == name
    ]
    assert status.restart_count in seen


def test_every_event_is_no_older_than_what_it_is_about(k8s: Any, clock: ManualClock) -> None:
    clock.advance(30 * 60)
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    pods = {p.metadata.name: p for p in core.list_namespaced_pod(NS).items}
    events = core.list_namespaced_event(NS).items
    assert {"Scheduled", "Started", "BackOff", "Unhealthy"} <= {e.reason for e in events}
    for event in events:
        about = pods.get(event.involved_object.name)
        if about is not None:
            assert event.first_timestamp >= about.metadata.creation_timestamp, event


def test_each_pod_s_failed_probe_names_its_own_address(k8s: Any, clock: ManualClock) -> None:
    """`/incident events` showed both payments pods failing their probe at one address
    (10.244.1.7): a responder comparing them would chase one pod."""
    clock.advance(5 * 60)
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    for pod in pods_of(core, "payments"):
        [probe] = [e for e in events_about(core, pod.metadata.name) if e.reason == "Unhealthy"]
        assert f'Get "http://{pod.status.pod_ip}:8080/healthz"' in probe.message, probe.message


def test_logs_are_written_as_time_passes_the_same_on_every_read_and_rotated(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    name = pods_of(core, "checkout")[0].metadata.name
    first = core.read_namespaced_pod_log(name, NS, timestamps=True)
    assert first == core.read_namespaced_pod_log(name, NS, timestamps=True)
    clock.advance(60)
    recent = core.read_namespaced_pod_log(name, NS, since_seconds=60, timestamps=True)
    assert 10 <= len(recent.splitlines()) <= 13  # a line every 5 s
    assert recent.splitlines()[-1] not in first
    clock.advance(2 * 24 * 3600)  # two days on, the log keeps its newest lines only
    assert len(core.read_namespaced_pod_log(name, NS).splitlines()) <= MAX_LINES


def test_scaling_orders_api_gives_its_pool_room_and_the_timeouts_stop(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)
    apps: Any = client.AppsV1Api(k8s)
    name = pods_of(core, "orders-api")[0].metadata.name
    saturated = core.read_namespaced_pod_log(name, NS, since_seconds=300)
    assert "connection pool exhausted" in saturated and " 504 " in saturated
    apps.patch_namespaced_deployment_scale("orders-api", NS, {"spec": {"replicas": 3}})
    clock.advance(20)  # the third pod is Ready after 8 s
    assert len(pods_of(core, "orders-api")) == 3
    clock.advance(120)
    for pod in pods_of(core, "orders-api"):
        calm = core.read_namespaced_pod_log(pod.metadata.name, NS, since_seconds=100)
        assert calm and " 504 " not in calm and "pool exhausted" not in calm
    scaled = [
        e.message for e in events_about(core, "orders-api") if e.reason == "ScalingReplicaSet"
    ]
    assert any(m.endswith("from 2 to 3") for m in scaled), scaled


def test_a_deleted_pod_is_killed_and_its_replacement_scheduled(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)  # the client types every field optional
    before = {p.metadata.name for p in pods_of(core, "search")}
    victim = sorted(before)[0]
    core.delete_namespaced_pod(victim, NS)
    killing = [e.message for e in events_about(core, victim) if e.reason == "Killing"]
    assert killing == ["Stopping container search"]
    clock.advance(10)
    after = {p.metadata.name for p in pods_of(core, "search")}
    [new] = after - before
    assert victim not in after and len(after) == 10
    [scheduled] = [e for e in events_about(core, new) if e.reason == "Scheduled"]
    assert scheduled.message.startswith(f"Successfully assigned {NS}/{new} to node-")
    created = [
        e.message for e in core.list_namespaced_event(NS).items if e.reason == "SuccessfulCreate"
    ]
    assert f"Created pod: {new}" in created


def test_a_pod_no_node_can_take_waits_pending_until_capacity_frees(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)
    apps: Any = client.AppsV1Api(k8s)
    apps.patch_namespaced_deployment_scale("search", NS, {"spec": {"replicas": 20}})
    clock.advance(1)
    waiting = [p for p in pods_of(core, "search") if p.status.phase == "Pending"]
    assert waiting and all(p.spec.node_name is None for p in waiting)
    [scheduled] = [c for c in waiting[0].status.conditions if c.type == "PodScheduled"]
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert re.fullmatch(r"0/3 nodes are available: 3 Insufficient cpu\.", scheduled.message)
    told = [
        e for e in events_about(core, waiting[0].metadata.name) if e.reason == "FailedScheduling"
    ]
    assert [e.type for e in told] == ["Warning"]

    apps.patch_namespaced_deployment_scale("task-service", NS, {"spec": {"replicas": 0}})
    apps.patch_namespaced_deployment_scale("orders-api", NS, {"spec": {"replicas": 0}})
    for _ in range(60):  # the freed requests go when the pods have stopped
        clock.advance(5)
        if all(p.spec.node_name for p in pods_of(core, "search")):
            break
    bound = {p.metadata.name: p for p in pods_of(core, "search")}
    assert all(bound[p.metadata.name].spec.node_name for p in waiting if p.metadata.name in bound)
    nodes = {n.metadata.name: n for n in core.list_node().items}
    for name, node in nodes.items():
        requested = sum(
            parse_cpu(p.spec.containers[0].resources.requests["cpu"])
            for p in core.list_namespaced_pod(NS).items
            if p.spec.node_name == name
        )
        assert requested <= parse_cpu(node.status.allocatable["cpu"])


def test_a_restart_buys_task_service_time_its_new_pods_start_low(
    k8s: Any, clock: ManualClock
) -> None:
    core: Any = client.CoreV1Api(k8s)
    apps: Any = client.AppsV1Api(k8s)
    before = {
        p.metadata.name: memory_of(k8s, p.metadata.name) for p in pods_of(core, "task-service")
    }
    stamp = {"kubectl.kubernetes.io/restartedAt": "2026-01-15T09:00:00Z"}
    apps.patch_namespaced_deployment(
        "task-service", NS, {"spec": {"template": {"metadata": {"annotations": stamp}}}}
    )
    for _ in range(60):  # one pod at a time, each Ready after 8 s
        clock.advance(5)
        fresh = [p for p in pods_of(core, "task-service") if p.metadata.name not in before]
        if len(fresh) == 3 and len(pods_of(core, "task-service")) == 3:
            break
    assert {p.metadata.name for p in pods_of(core, "task-service")}.isdisjoint(before)
    for pod in pods_of(core, "task-service"):
        assert pod.status.container_statuses[0].restart_count == 0
        assert memory_of(k8s, pod.metadata.name) < min(before.values())
    scaled = [
        e.message for e in events_about(core, "task-service") if e.reason == "ScalingReplicaSet"
    ]
    assert any("from 0 to 1" in m for m in scaled) and any(m.endswith("to 0") for m in scaled)
