"""The pods a watch keeps for `diagnose` (bot/gateways/pod_watch.py), through the bot's gateway
against the Kubernetes double over real HTTP: they follow the cluster, are never offered while
the watch is broken, and nothing is left running once the gateway is closed."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config

from bot.app.deps import Deps, KubeGateways
from bot.gateways import kubernetes as kubernetes_gateway
from bot.gateways import pod_watch
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.pod_watch import LAST_APPLIED, PodWatch
from bot.sandbox.doubles.kubernetes import (
    KubernetesDouble,
    add_deployment,
    api_client,
    mark_oom_killed,
)
from tests.diagnostics.conftest import make_policy
from tests.diagnostics.scenario import NS, new_cluster, task_service_incident, task_service_pods
from tests.harness import eventually

PODS = f"/api/v1/namespaces/{NS}/pods$"


@pytest.fixture
def double() -> Iterator[KubernetesDouble]:
    cluster = new_cluster()
    task_service_incident(cluster)
    with KubernetesDouble(cluster) as served:
        yield served


@pytest.fixture
async def kube(double: KubernetesDouble) -> AsyncIterator[KubeGateway]:
    api = api_client(double.base_url)
    gateway = KubeGateway(api, attempts=2, backoff_s=0.01, timeout_s=2.0)
    try:
        yield gateway
    finally:
        await gateway.aclose()
        api.close()  # type: ignore[no-untyped-call]


async def never(_seconds: float) -> None:
    """A backoff that never ends: a test that passes did not wait one out."""
    await asyncio.Event().wait()


def names(pods: list[dict[str, Any]] | None) -> set[str]:
    return {p["metadata"]["name"] for p in pods or []}


def restarts(watch: PodWatch, pod: str) -> int:
    for p in watch.pods() or []:
        if p["metadata"]["name"] == pod:
            return sum(cs["restartCount"] for cs in p["status"]["containerStatuses"])
    return -1


def current(watch: PodWatch) -> bool:
    return watch.state == "current"


async def agreed(kube: KubeGateway) -> set[str]:
    """Until the kept pods are those a list shows (the double's ReplicaSet controller replaces
    a deleted pod on its own tick), then their names."""
    async with asyncio.timeout(10):
        while True:
            listed = names(await kube.list_pods(NS))
            if names(kube.watched_pods(NS)) == listed:
                return listed
            await asyncio.sleep(0.01)


async def started(kube: KubeGateway) -> PodWatch:
    watch = kube.watch_pods(NS)
    assert watch is not None
    await asyncio.wait_for(watch.until(current), 10)
    return watch


async def test_kept_pods_are_the_namespaces_and_follow_its_changes(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    cluster = double.cluster
    assert kube.watched_pods(NS) is None  # not watched: the caller lists
    watch = await started(kube)
    assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))

    pod = task_service_pods(cluster)[2]
    with cluster.lock:
        mark_oom_killed(cluster, NS, pod, restarts=9, last_killed_seconds_ago=5)
    await asyncio.wait_for(watch.until(lambda w: restarts(w, pod) == 9), 10)

    with cluster.lock:
        cluster.delete("v1", "Pod", NS, pod)
    await asyncio.wait_for(watch.until(lambda w: pod not in names(w.pods())), 10)
    assert pod not in await agreed(kube)
    assert watch.lists == 1  # followed by the watch, not listed again


async def test_a_watch_the_server_ends_is_resumed_without_listing_again(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pod_watch, "WATCH_TIMEOUT_S", (1, 1))
    monkeypatch.setattr(pod_watch, "SHORT_WATCH_S", 0.5)
    watch = await started(kube)
    await eventually(lambda: len(double.requests.find("watch", PODS)) >= 2, 10, "a second watch")
    resumed = double.requests.find("watch", PODS)[1]
    assert resumed.query["resourceVersion"] not in ("", "0")  # from where it was, no replay

    pod = task_service_pods(double.cluster)[3]
    with double.cluster.lock:
        mark_oom_killed(double.cluster, NS, pod, restarts=3, last_killed_seconds_ago=5)
    await asyncio.wait_for(watch.until(lambda w: restarts(w, pod) == 3), 10)
    assert watch.lists == 1


async def test_a_broken_watch_offers_no_pods_until_a_new_list_has_arrived(
    double: KubernetesDouble,
    kube: KubeGateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = double.cluster
    retry = asyncio.Event()

    async def held(_seconds: float) -> None:
        await retry.wait()

    monkeypatch.setattr(pod_watch, "_pause", held)
    double.faults.fail("watch", PODS, 500)  # listed, then the watch fails
    with caplog.at_level(logging.INFO, logger="bot.gateways.pod_watch"):
        watch = kube.watch_pods(NS)
        assert watch is not None
        await asyncio.wait_for(watch.until(lambda w: w.state == "broken"), 10)
        assert watch.lists == 1
        assert kube.watched_pods(NS) is None  # the caller lists for itself meanwhile
        gone = task_service_pods(cluster)[0]
        with cluster.lock:
            cluster.delete("v1", "Pod", NS, gone)  # unseen: nothing watches
        retry.set()
        await asyncio.wait_for(watch.until(lambda w: w.lists == 2 and current(w)), 10)
    assert gone not in await agreed(kube)
    assert "not watched" in caplog.text and "watched again" in caplog.text


async def test_an_expired_version_lists_again(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """410 as an HTTP status: listed again at once, no backoff (held here for good)."""

    monkeypatch.setattr(pod_watch, "_pause", never)
    double.faults.fail("watch", PODS, 410)
    watch = kube.watch_pods(NS)
    assert watch is not None
    await asyncio.wait_for(watch.until(lambda w: w.lists == 2 and current(w)), 10)
    assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))


async def test_a_watch_that_falls_behind_the_servers_history_lists_again(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """410 as the API server sends it mid-watch: an ERROR event carrying a Status. Listed again
    at once (a failure would wait out a backoff, held here for good)."""

    monkeypatch.setattr(pod_watch, "_pause", never)
    cluster = double.cluster
    watch = await started(kube)
    pods = task_service_pods(cluster)
    with cluster.lock:  # more changes at once than the server remembers
        cluster.history = deque(cluster.history, maxlen=2)
        for count, pod in enumerate(pods, start=20):
            mark_oom_killed(cluster, NS, pod, restarts=count, last_killed_seconds_ago=5)
    await asyncio.wait_for(watch.until(lambda w: w.lists == 2 and current(w)), 10)
    assert restarts(watch, pods[-1]) == 20 + len(pods) - 1


async def test_a_watch_rbac_refuses_says_what_to_grant_once_and_offers_nothing(
    double: KubernetesDouble,
    kube: KubeGateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def at_once(_seconds: float) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(pod_watch, "_pause", at_once)
    double.faults.fail("watch", PODS, 403, times=None)
    with caplog.at_level(logging.INFO, logger="bot.gateways.pod_watch"):
        watch = kube.watch_pods(NS)
        assert watch is not None
        await asyncio.wait_for(watch.until(lambda w: w.lists >= 3), 20)
    assert kube.watched_pods(NS) is None
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "deploy/kubernetes/rbac.yaml" in said[0]


async def test_a_namespace_that_would_go_over_the_clusters_budget_is_not_kept(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with double.cluster.lock:
        add_deployment(double.cluster, "orion-batch", "worker", replicas=3)
    prod = await started(kube)
    monkeypatch.setattr(pod_watch, "BYTES_BUDGET", prod.kept_bytes + 100)
    batch = kube.watch_pods("orion-batch")
    assert batch is not None
    await asyncio.wait_for(batch.until(lambda w: w.state == "too-many"), 10)
    assert kube.watched_pods("orion-batch") is None
    assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))  # still kept

    # A namespace that grows past the budget while watched stops being kept.
    monkeypatch.setattr(pod_watch, "BYTES_BUDGET", prod.kept_bytes + 100)
    with double.cluster.lock:
        add_deployment(double.cluster, NS, "sudden", replicas=2)
    await asyncio.wait_for(prod.until(lambda w: w.state == "too-many"), 10)
    assert kube.watched_pods(NS) is None


async def test_kept_pods_leave_out_what_nothing_reads(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    pod = task_service_pods(double.cluster)[0]
    with double.cluster.lock:
        obj = double.cluster.require("v1", "Pod", NS, pod)
        obj["metadata"]["annotations"] = {LAST_APPLIED: "{" + "x" * 4000 + "}", "team": "orion"}
        obj["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update"}]
        obj["spec"]["containers"][0]["env"] = [{"name": "MODE", "value": "fast"}]
        double.cluster.update(obj)
    served = next(p for p in await kube.list_pods(NS) if p["metadata"]["name"] == pod)
    assert "managedFields" in served["metadata"] and "env" in served["spec"]["containers"][0]
    await started(kube)
    kept = next(p for p in kube.watched_pods(NS) or [] if p["metadata"]["name"] == pod)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "orion"}
    container = served["spec"]["containers"][0]
    assert kept["spec"] == {
        "nodeName": served["spec"]["nodeName"],
        "containers": [
            {"name": container["name"], "image": container["image"],
             "resources": container["resources"]}
        ],
    }  # fmt: skip


async def test_closing_the_gateway_stops_its_watches(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    watch = await started(kube)
    await kube.aclose()
    assert watch.state == "stopped"
    assert kube.watched_pods(NS) is None
    running = [t for t in asyncio.all_tasks() if t.get_name().startswith("pod-watch")]
    assert running == []


async def test_a_gateway_that_keeps_pods_watches_a_namespace_once_told_of_it(
    double: KubernetesDouble,
) -> None:
    api = api_client(double.base_url)
    kube = KubeGateway(api, attempts=2, backoff_s=0.01, keep_pods=True)
    try:
        assert kube.watched_pods(NS) is None  # asking alone starts nothing
        assert double.requests.find("watch", PODS) == []
        kube.keep_pods_of(NS)
        await eventually(lambda: double.requests.find("watch", PODS), 10, "a watch")
        await eventually(lambda: kube.watched_pods(NS) is not None, 10, "the pods on offer")
        assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))
    finally:
        await kube.aclose()
        api.close()  # type: ignore[no-untyped-call]
    kube.keep_pods_of(NS)  # closed: nothing starts again
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("pod-watch")] == []


async def test_a_gateway_that_keeps_nothing_is_told_of_a_namespace_in_vain(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    kube.keep_pods_of(NS)
    assert kube.watched_pods(NS) is None
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("pod-watch")] == []


async def test_a_broken_kubeconfig_leaves_its_cluster_unwatched_and_the_bot_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "config"
    broken.write_text("clusters: [unclosed\n")
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(broken))
    policy = make_policy()
    gateways = KubeGateways(policy, Deps(policy=policy))
    with caplog.at_level(logging.WARNING, logger="bot.app.deps"):
        await gateways.watch_named()  # does not raise: start-up goes on
    assert "pods of cluster test not watched" in caplog.text
    assert gateways.built == {}  # an action on it still says what is wrong when run
    await gateways.aclose()


async def test_the_bot_watches_the_namespaces_its_policy_names(double: KubernetesDouble) -> None:
    policy = make_policy()  # cluster `test`: orion-* and kube-system, orion-prod by default
    api = api_client(double.base_url)
    gateways = KubeGateways(policy, Deps(policy=policy, kube_clients={"test": api}))
    try:
        await gateways.watch_named()
        kube = gateways("test")
        await eventually(lambda: kube.watched_pods(NS) is not None, 10, "orion-prod's pods")
        await eventually(
            lambda: double.requests.find("watch", "/namespaces/kube-system/pods$"), 10, "a watch"
        )
        watched = {r.path.split("/")[4] for r in double.requests.find("watch", "/pods$")}
        assert watched == {NS, "kube-system"}  # a pattern (orion-*) is not guessed at
    finally:
        await gateways.aclose()
        api.close()  # type: ignore[no-untyped-call]


async def test_past_the_most_watches_the_least_recently_read_one_makes_room(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubernetes_gateway, "MAX_WATCHES", 2)
    with double.cluster.lock:
        for namespace in ("orion-a", "orion-b"):
            add_deployment(double.cluster, namespace, "worker", replicas=1)
    prod = await started(kube)
    other = kube.watch_pods("orion-a")
    assert other is not None
    await asyncio.wait_for(other.until(current), 10)
    assert kube.watched_pods(NS) is not None  # read: orion-a is now the least recent
    newest = kube.watch_pods("orion-b")
    assert newest is not None
    await asyncio.wait_for(other.until(lambda w: w.state == "stopped"), 10)
    await asyncio.wait_for(newest.until(current), 10)
    assert prod.state == "current" and kube.watched_pods("orion-a") is None
