"""The pods a watch keeps for `diagnose` (bot/gateways/pod_watch.py), through the bot's gateway
against the Kubernetes double over real HTTP: they follow the cluster, are never offered while
the watch is broken, and nothing is left running once the gateway is closed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.gateways import pod_watch
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.pod_watch import LAST_APPLIED, PodWatch
from bot.sandbox.doubles.kubernetes import (
    KubernetesDouble,
    add_deployment,
    api_client,
    mark_oom_killed,
)
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


def names(pods: list[dict[str, Any]] | None) -> set[str]:
    return {p["metadata"]["name"] for p in pods or []}


def restarts(watch: PodWatch, pod: str) -> int:
    for p in watch.pods() or []:
        if p["metadata"]["name"] == pod:
            return sum(cs["restartCount"] for cs in p["status"]["containerStatuses"])
    return -1


def current(watch: PodWatch) -> bool:
    return watch.state == "current"


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
    assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))
    assert watch.lists == 1  # followed by the watch, not listed again


async def test_a_watch_the_server_ends_is_resumed_without_listing_again(
    double: KubernetesDouble, kube: KubeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pod_watch, "WATCH_TIMEOUT_S", (1, 1))
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
    kept = names(kube.watched_pods(NS))
    assert gone not in kept and kept == names(await kube.list_pods(NS))
    assert "not watched" in caplog.text and "watched again" in caplog.text


async def test_an_expired_version_lists_again(double: KubernetesDouble, kube: KubeGateway) -> None:
    double.faults.fail("watch", PODS, 410)
    watch = kube.watch_pods(NS)
    assert watch is not None
    await asyncio.wait_for(watch.until(lambda w: w.lists == 2 and current(w)), 10)
    assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))


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
    in_prod = len(await kube.list_pods(NS))
    monkeypatch.setattr(pod_watch, "POD_BUDGET", in_prod + 2)
    await started(kube)
    batch = kube.watch_pods("orion-batch")
    assert batch is not None
    await asyncio.wait_for(batch.until(lambda w: w.state == "too-many"), 10)
    assert kube.watched_pods("orion-batch") is None
    assert len(kube.watched_pods(NS) or []) == in_prod  # the first one kept is still kept


async def test_kept_pods_leave_out_what_nothing_reads(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    pod = task_service_pods(double.cluster)[0]
    with double.cluster.lock:
        obj = double.cluster.require("v1", "Pod", NS, pod)
        obj["metadata"]["annotations"] = {LAST_APPLIED: "{" + "x" * 4000 + "}", "team": "orion"}
        double.cluster.update(obj)
    await started(kube)
    kept = next(p for p in kube.watched_pods(NS) or [] if p["metadata"]["name"] == pod)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "orion"}


async def test_closing_the_gateway_stops_its_watches(
    double: KubernetesDouble, kube: KubeGateway
) -> None:
    watch = await started(kube)
    await kube.aclose()
    assert watch.state == "stopped"
    assert kube.watched_pods(NS) is None
    running = [t for t in asyncio.all_tasks() if t.get_name().startswith("pod-watch")]
    assert running == []


async def test_a_gateway_that_keeps_pods_watches_a_namespace_from_its_first_ask(
    double: KubernetesDouble,
) -> None:
    api = api_client(double.base_url)
    kube = KubeGateway(api, attempts=2, backoff_s=0.01, keep_pods=True)
    try:
        assert kube.watched_pods(NS) is None  # the first ask starts the watch
        watch = kube.watch_pods(NS)
        assert watch is not None
        await asyncio.wait_for(watch.until(current), 10)
        assert names(kube.watched_pods(NS)) == names(await kube.list_pods(NS))
    finally:
        await kube.aclose()
        api.close()  # type: ignore[no-untyped-call]
