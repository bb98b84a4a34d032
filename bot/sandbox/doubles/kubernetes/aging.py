"""The living cluster as time passes: what the kubelet and the controllers report about pods
that behave (`life.Life`), run by the control loop each reconcile.

- Pods join and leave the life's ledger (who served which service when).
- A pod whose memory reaches its limit is OOM-killed (exit 137), waits out the kubelet's
  back-off and restarts; its status and a `BackOff` event say so, as on a real node.
- A pod whose behaviour fails its readiness probe stays unready, with an `Unhealthy` event.
- The scheduler, ReplicaSet and deployment controllers and the kubelet record their events
  (`Scheduled`, `SuccessfulCreate`, `ScalingReplicaSet`, `Killing`), so a remediation shows in
  `kubectl get events` as it would; events older than an hour go, as the API server's TTL does.

Every status here is a function of the pod's creation and the clock, so a run that is late
(the sandbox was idle) catches up in one write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes import scheduler
from bot.sandbox.doubles.kubernetes.clock import format_time, parse_time
from bot.sandbox.doubles.kubernetes.events import add_event
from bot.sandbox.doubles.kubernetes.life import (
    LEDGER_KEEP,
    NEVER_READY,
    RESTART_DELAY_S,
    Life,
    Tenure,
    app_of,
    memory_limit,
)
from bot.sandbox.doubles.kubernetes.networking import sync_endpoints
from bot.sandbox.doubles.kubernetes.pods import container_id, new_pod, set_ready
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

EVENT_TTL = timedelta(hours=1)
PROBE_PERIOD_S = 10.0
UNHEALTHY_REFRESH = timedelta(minutes=5)
"""How often the aggregated `Unhealthy` count is brought up to date (each write costs a
controller pass; the count is the probes since the pod started)."""


def _limit_of(pod: Obj) -> int | None:
    return memory_limit(pod["spec"]["containers"][0])


def step(cluster: Cluster, life: Life, now: datetime) -> None:
    with cluster.lock:
        _schedule(cluster, life, now)
        _ledger(cluster, life, now)
        for pod in list(cluster.scan("v1", "Pod")):
            behaviour = life.of_pod(pod)
            if behaviour is None or pod["metadata"].get("deletionTimestamp"):
                continue
            if pod["status"].get("phase") != "Running":
                continue
            if not behaviour.ready:
                # Each pod's probe is sent to its own address, as the kubelet's is.
                message = behaviour.probe_message.replace(
                    "{pod_ip}", str(pod["status"].get("podIP", ""))
                )
                _unready(cluster, pod, message, now)
            lifetime = life.lifetime(pod["metadata"]["name"], behaviour, _limit_of(pod))
            if lifetime is not None:
                _oom(cluster, pod, lifetime, now)
        _scaling(cluster, life, now)
        for service in cluster.scan("v1", "Service"):  # the endpoints controller
            sync_endpoints(cluster, service["metadata"]["namespace"], service["metadata"]["name"])
        _expire_events(cluster, now)


def next_due(cluster: Cluster, life: Life, now: datetime) -> datetime | None:
    """When `step` next has something to write (an OOM kill, a restart, a probe count)."""
    due: list[datetime] = []
    for pod in cluster.scan("v1", "Pod"):
        behaviour = life.of_pod(pod)
        if behaviour is None or pod["metadata"].get("deletionTimestamp"):
            continue
        if not behaviour.ready:
            due.append(now + UNHEALTHY_REFRESH)
        lifetime = life.lifetime(pod["metadata"]["name"], behaviour, _limit_of(pod))
        if lifetime is not None:
            created = parse_time(pod["metadata"]["creationTimestamp"])
            cycle = lifetime + RESTART_DELAY_S
            index = int((now - created).total_seconds() // cycle)
            start = created + timedelta(seconds=index * cycle)
            killed = start + timedelta(seconds=lifetime)
            due.append(killed if killed > now else start + timedelta(seconds=cycle))
    return min(due, default=None)


# -- the ledger and the controllers' events --------------------------------------------------
def _ledger(cluster: Cluster, life: Life, now: datetime) -> None:
    present: set[tuple[str, str]] = set()
    for pod in cluster.scan("v1", "Pod"):
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        present.add(key)
        behaviour = life.of_pod(pod)
        tenure = life.ledger.get(key)
        if tenure is None and behaviour is not None and pod["spec"].get("nodeName"):
            created = parse_time(meta["creationTimestamp"])
            ready = created + (life.ready_after if behaviour.ready else NEVER_READY)
            image = pod["spec"]["containers"][0]["image"]
            life.ledger[key] = Tenure(
                key[0], app_of(pod), key[1], image, created, ready, limit=_limit_of(pod)
            )
            _born(cluster, pod, created)
        elif tenure is not None and tenure.gone is None and meta.get("deletionTimestamp"):
            tenure.gone = now
            container = pod["spec"]["containers"][0]["name"]
            add_event(cluster, pod, "Killing", f"Stopping container {container}")
    for key, tenure in list(life.ledger.items()):
        if tenure.gone is None and key not in present:
            tenure.gone = now
        if tenure.gone is not None and tenure.gone < now - LEDGER_KEEP:
            del life.ledger[key]


def _schedule(cluster: Cluster, life: Life, now: datetime) -> None:
    """Bind the Pending pods a node can now take (capacity freed, a node added or
    uncordoned); tell once about each that still waits (`FailedScheduling`)."""
    for pod in list(cluster.scan("v1", "Pod")):
        meta = pod["metadata"]
        if pod["spec"].get("nodeName") or meta.get("deletionTimestamp"):
            continue
        key = (meta["namespace"], meta["name"])
        node = scheduler.place(cluster, pod["spec"])
        if node is None:
            if key not in life.waiting:
                life.waiting.add(key)
                add_event(
                    cluster,
                    pod,
                    "FailedScheduling",
                    scheduler.unschedulable(cluster, pod["spec"]),
                    type_="Warning",
                    component="default-scheduler",
                    field_path="",
                )
            continue
        life.waiting.discard(key)
        bound = new_pod(
            cluster,
            key[0],
            key[1],
            {"metadata": meta, "spec": pod["spec"]},
            node=node,
            ready=False,
            started=now,
        )
        cluster.update({**pod, "spec": bound["spec"], "status": bound["status"]})
        cluster.pod_ready_at[key] = now + timedelta(seconds=cluster.timing.pod_ready)


def _born(cluster: Cluster, pod: Obj, created: datetime) -> None:
    meta = pod["metadata"]
    owner = next(iter(meta.get("ownerReferences", [])), None)
    if owner is not None and owner["kind"] == "ReplicaSet":
        replica_set = cluster.get("apps/v1", "ReplicaSet", meta["namespace"], owner["name"])
        if replica_set is not None:
            add_event(
                cluster,
                replica_set,
                "SuccessfulCreate",
                f"Created pod: {meta['name']}",
                component="replicaset-controller",
                last=created,
            )
    node = pod["spec"]["nodeName"]
    add_event(
        cluster,
        pod,
        "Scheduled",
        f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
        component="default-scheduler",
        last=created,
        field_path="",
    )
    container = pod["spec"]["containers"][0]
    add_event(cluster, pod, "Started", f"Started container {container['name']}", last=created)


def _scaling(cluster: Cluster, life: Life, now: datetime) -> None:
    """`ScalingReplicaSet` on the deployment whenever one of its ReplicaSets is resized (those
    the scenario built are recorded silently; one created later started at 0)."""
    for replica_set in cluster.scan("apps/v1", "ReplicaSet"):
        meta = replica_set["metadata"]
        key = (meta["namespace"], meta["name"])
        wanted = int(replica_set["spec"].get("replicas", 0))
        before = life.replicas.get(key, 0 if life.primed else None)
        life.replicas[key] = wanted
        if before is None or before == wanted:
            continue
        owner = next(iter(meta.get("ownerReferences", [])), None)
        deployment = owner and cluster.get("apps/v1", "Deployment", key[0], owner["name"])
        if deployment:
            way = "up" if wanted > before else "down"
            add_event(
                cluster,
                deployment,
                "ScalingReplicaSet",
                f"Scaled {way} replica set {key[1]} from {before} to {wanted}",
                component="deployment-controller",
            )


def _expire_events(cluster: Cluster, now: datetime) -> None:
    cutoff = format_time(now - EVENT_TTL)
    for event in list(cluster.scan("v1", "Event")):
        if event.get("lastTimestamp", cutoff) < cutoff:
            meta = event["metadata"]
            cluster.delete("v1", "Event", meta["namespace"], meta["name"])


def _aggregate(cluster: Cluster, pod: Obj, reason: str, message: str, **kw: Any) -> None:
    """Add an event or, as the kubelet's event recorder does, bump the count of the same one."""
    uid = pod["metadata"]["uid"]
    for event in cluster.scan("v1", "Event", pod["metadata"]["namespace"]):
        if event["involvedObject"].get("uid") == uid and event["reason"] == reason:
            updated = {
                **event,
                "count": kw["count"],
                "message": message,
                "lastTimestamp": format_time(kw["last"]),
            }
            cluster.update(updated)
            return
    add_event(cluster, pod, reason, message, **kw)


# -- what the kubelet reports -----------------------------------------------------------------
def _unready(cluster: Cluster, pod: Obj, message: str, now: datetime) -> None:
    meta = pod["metadata"]
    cluster.pod_ready_at.pop((meta["namespace"], meta["name"]), None)
    created = parse_time(meta["creationTimestamp"])
    count = 1 + int((now - created).total_seconds() // PROBE_PERIOD_S)
    events = [
        e
        for e in cluster.scan("v1", "Event", meta["namespace"])
        if e["involvedObject"].get("uid") == meta["uid"] and e["reason"] == "Unhealthy"
    ]
    stale = not events or parse_time(events[0]["lastTimestamp"]) + UNHEALTHY_REFRESH <= now
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    if ready:
        set_ready(pod, False, now)
        cluster.update(pod)
    if stale:
        _aggregate(
            cluster,
            pod,
            "Unhealthy",
            f"Readiness probe failed: {message}",
            type_="Warning",
            count=count,
            first=created,
            last=now,
        )


def _oom(cluster: Cluster, pod: Obj, lifetime: float, now: datetime) -> None:
    meta = pod["metadata"]
    created = parse_time(meta["creationTimestamp"])
    cycle = lifetime + RESTART_DELAY_S
    index = int((now - created).total_seconds() // cycle)
    start = created + timedelta(seconds=index * cycle)
    backing_off = now >= start + timedelta(seconds=lifetime)
    kills = index + (1 if backing_off else 0)
    if kills == 0:
        return
    last = index if backing_off else index - 1
    last_start = created + timedelta(seconds=last * cycle)
    last_end = last_start + timedelta(seconds=lifetime)
    status = pod["status"]["containerStatuses"][0]
    name = status["name"]
    wanted: dict[str, Any] = {
        # never backwards: a restart someone else recorded (a drill's `mark_oom_killed`) stays
        "restartCount": max(index, status.get("restartCount", 0)),
        "lastState": {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": format_time(last_start),
                "finishedAt": format_time(last_end),
                "containerID": container_id(f"{meta['namespace']}/{meta['name']}/{name}/{last}"),
            }
        },
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 10s restarting failed container={name} "
                f"pod={meta['name']}_{meta['namespace']}({meta['uid']})",
            }
        }
        if backing_off
        else {"running": {"startedAt": format_time(start)}},
        "ready": not backing_off,
        "started": not backing_off,
    }
    if all(status.get(k) == v for k, v in wanted.items()):
        return
    status.update(wanted)
    status["containerID"] = container_id(f"{meta['namespace']}/{meta['name']}/{name}/{index}")
    set_ready(pod, not backing_off, now)
    cluster.pod_ready_at.pop((meta["namespace"], meta["name"]), None)
    cluster.update(pod)
    first_kill = created + timedelta(seconds=lifetime)
    _aggregate(
        cluster,
        pod,
        "BackOff",
        f"Back-off restarting failed container {name} in pod "
        f"{meta['name']}_{meta['namespace']}({meta['uid']})",
        type_="Warning",
        count=kills,
        first=first_kill,
        last=last_end,
    )
