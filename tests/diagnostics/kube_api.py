"""A minimal Kubernetes API stand-in on 127.0.0.1 for the diagnostics tests, until the
Kubernetes double (branch `k8sdouble`) lands on main.

It serves real HTTP to the official `kubernetes` client: the read paths the gateway uses, label
selectors (equality), `involvedObject.name` field selectors, pod logs with tailLines/limitBytes,
404s in the API's Status shape, and injected faults (status codes, added latency) per resource.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
from aiohttp import web
from kubernetes import client as k8s
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

SCHEMA_VERSION = kubernetes_validate.latest_version()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ts(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class KubeAPI:
    # (group path, namespace, plural) → objects
    objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    previous_logs: dict[str, str] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)  # plural → HTTP status
    latency_s: float = 0.0
    slow: dict[str, float] = field(default_factory=dict)  # plural → seconds
    calls: list[str] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _version: int = 0
    _encoded: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def add(
        self, namespace: str, plural: str, obj: dict[str, Any], *, validate: bool = True
    ) -> dict[str, Any]:
        """Serve `obj`; it must validate against the Kubernetes schemas (strict), as objects
        the Kubernetes double serves do, unless a test means to serve a broken one."""
        if validate and plural != "podmetrics":  # metrics.k8s.io has no published schema
            _validator(obj["apiVersion"], obj["kind"]).validate(obj)
        self.objects.setdefault((namespace, plural), []).append(obj)
        self._version += 1
        return obj

    async def start(self) -> KubeAPI:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def api_client(self) -> k8s.ApiClient:
        configuration = k8s.Configuration(host=f"http://127.0.0.1:{self.port}")
        return k8s.ApiClient(configuration)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        self.calls.append(request.path)
        # /api/v1/namespaces/{ns}/{plural}[/{name}[/log]]  or  /apis/{g}/{v}/namespaces/...
        i = parts.index("namespaces")
        ns, plural = parts[i + 1], parts[i + 2]
        if "metrics.k8s.io" in parts:
            plural = "podmetrics"
        name = parts[i + 3] if len(parts) > i + 3 else None
        sub = parts[i + 4] if len(parts) > i + 4 else None
        delay = self.latency_s + self.slow.get(plural, 0.0)
        if delay:
            await asyncio.sleep(delay)
        if plural in self.faults:
            return _status(self.faults[plural], "injected fault")
        items = self.objects.get((ns, plural), [])
        if name is None:
            selected = [o for o in items if _selects(request.query.get("labelSelector"), o)]
            fields = request.query.get("fieldSelector")
            if fields and fields.startswith("involvedObject.name="):
                wanted = fields.split("=", 1)[1]
                selected = [o for o in selected if o["involvedObject"]["name"] == wanted]
            body = {"kind": "List", "apiVersion": "v1", "items": selected}
            return web.Response(
                body=self._encode(request.path_qs, body), content_type="application/json"
            )
        found = next((o for o in items if o["metadata"]["name"] == name), None)
        if found is None:
            return _status(404, f'{plural} "{name}" not found')
        if sub == "log":
            source = self.previous_logs if request.query.get("previous") == "true" else self.logs
            text = source.get(name, "")
            tail = int(request.query.get("tailLines", "0") or 0)
            if tail:
                text = "\n".join(text.splitlines()[-tail:])
            limit = int(request.query.get("limitBytes", "0") or 0)
            data = text.encode()[:limit] if limit else text.encode()
            return web.Response(body=data, content_type="text/plain")
        return web.Response(
            body=self._encode(request.path_qs, found), content_type="application/json"
        )

    def _encode(self, key: str, body: dict[str, Any]) -> bytes:
        """JSON bytes, memoised until an object is added: the stand-in's own CPU should not be
        what a benchmark measures."""
        cached = self._encoded.get((key, self._version))
        if cached is None:
            cached = json.dumps(body, separators=(",", ":")).encode()
            self._encoded[(key, self._version)] = cached
        return cached


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Validator:
    """kubernetes-validate's strict schema for a kind, compiled once (validating every fixture
    object through `kubernetes_validate.validate` reloads the schemas each time)."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{SCHEMA_VERSION}-local-strict"
    schema = kv_utils.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json", SCHEMA_VERSION
    )
    definitions = kv_utils.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/_definitions.json", SCHEMA_VERSION
    )
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "code": code}  # fmt: skip
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


def _selects(selector: str | None, obj: dict[str, Any]) -> bool:
    if not selector:
        return True
    labels = obj["metadata"].get("labels") or {}
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


# --- builders -------------------------------------------------------------------------------


def deployment(name: str, ns: str, replicas: int, image: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": uid, "creationTimestamp": ts(600)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"replicas": replicas},
    }


def pod(
    name: str,
    ns: str,
    app: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    last: dict[str, Any] | None = None,
    waiting: str | None = None,
    node: str = "node-a",
    age_min: float = 120,
    cpu_limit: str = "500m",
    mem_limit: str = "256Mi",
) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": ts(5)}}
    )
    status: dict[str, Any] = {
        "name": "app",
        "ready": ready,
        "restartCount": restarts,
        "image": "registry/app:1",
        "imageID": "",
        "state": state,
    }
    if last:
        status["lastState"] = {"terminated": last}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": app},
            "creationTimestamp": ts(age_min),
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "app",
                    "image": "registry/app:1",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": cpu_limit, "memory": mem_limit},
                    },
                }
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": str(ready), "lastTransitionTime": ts(3)},
            ],
            "containerStatuses": [status],
        },
    }


def oom(minutes_ago: float) -> dict[str, Any]:
    return {"reason": "OOMKilled", "exitCode": 137, "finishedAt": ts(minutes_ago)}


def event(
    name: str,
    ns: str,
    obj: str,
    reason: str,
    message: str,
    *,
    kind: str = "Pod",
    type_: str = "Warning",
    count: int = 1,
    minutes_ago: float = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": kind, "name": obj, "namespace": ns},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "lastTimestamp": ts(minutes_ago),
        "firstTimestamp": ts(minutes_ago + 5),
    }


def replicaset(dep: dict[str, Any], revision: int, image: str, minutes_ago: float, cause: str):
    name = dep["metadata"]["name"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{revision:04d}",
            "namespace": dep["metadata"]["namespace"],
            "labels": {"app": name},
            "creationTimestamp": ts(minutes_ago),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name,
                    "uid": dep["metadata"]["uid"],
                }
            ],
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": cause,
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"replicas": 0},
    }


def metrics(pod_name: str, ns: str, app: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": pod_name, "namespace": ns, "labels": {"app": app}},
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }


def orion_prod(api: KubeAPI, pods: int = 5) -> None:
    """`task-service` in `orion-prod`: 3/5 ready, 2 OOMKilled recently, rev 42 rolled out
    12 minutes before the incident (which started at NOW - 0), HPA pinned at max."""
    ns = "orion-prod"
    dep = api.add(ns, "deployments", deployment("task-service", ns, pods, "task:42", "uid-ts"))
    api.add(ns, "deployments", deployment("orion-api", ns, 2, "api:7", "uid-api"))
    for i in range(pods):
        name = f"task-service-7d9f-{i:02d}"
        if i < 2:
            p = pod(name, ns, "task-service", ready=False, restarts=4 + i, last=oom(10 + i),
                    mem_limit="256Mi")  # fmt: skip
        else:
            p = pod(name, ns, "task-service")
        api.add(ns, "pods", p)
        mem = "250Mi" if i == 0 else "100Mi"
        api.add(ns, "podmetrics", metrics(name, ns, "task-service", "120m", mem))
    api.add(ns, "pods", pod("orion-api-5c-00", ns, "orion-api"))
    api.add(ns, "events", event("e1", ns, "task-service-7d9f-00", "BackOff",
                                "Back-off restarting failed container app", count=12))  # fmt: skip
    api.add(ns, "events", event("e2", ns, "task-service-7d9f-01", "Unhealthy",
                                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                                count=7))  # fmt: skip
    api.add(ns, "events", event("e3", ns, "task-service-7d9f-00", "BackOff",
                                "Back-off restarting failed container app", count=3,
                                minutes_ago=4))  # fmt: skip
    api.add(ns, "events", event("e4", ns, "task-service", "ScalingReplicaSet",
                                "Scaled up replica set task-service-0042 to 5", kind="Deployment",
                                type_="Normal", minutes_ago=12))  # fmt: skip
    for rev, image, ago, cause in (
        (40, "task:40", 3000, "release 40"),
        (41, "task:41", 1500, "release 41"),
        (42, "task:42", 12, "release 42: new cache"),
    ):
        api.add(ns, "replicasets", replicaset(dep, rev, image, ago, cause))
    api.add(ns, "horizontalpodautoscalers", {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "task-service", "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": "task-service"},
            "minReplicas": 2, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
        "status": {
            "currentReplicas": 5, "desiredReplicas": 5,
            "currentMetrics": [{"type": "Resource", "resource": {
                "name": "cpu", "current": {"averageUtilization": 93}}}],
        },
    })  # fmt: skip
    api.add(
        ns,
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "task-service", "namespace": ns},
        },
    )
    api.add(ns, "endpoints", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "task-service", "namespace": ns},
        "subsets": [{
            "addresses": [{"ip": "10.0.0.3", "nodeName": "node-a",
                           "targetRef": {"kind": "Pod", "name": "task-service-7d9f-02"}}],
            "notReadyAddresses": [{"ip": "10.0.0.1", "nodeName": "node-a",
                                   "targetRef": {"kind": "Pod", "name": "task-service-7d9f-00"}}],
            "ports": [{"port": 8080}],
        }],
    })  # fmt: skip
    api.logs["task-service-7d9f-00"] = "\n".join(
        [f"2026-11-22T11:5{i % 10}:00Z INFO request id={1000 + i} ok" for i in range(30)]
        + [
            f"2026-11-22T11:59:{i:02d}Z ERROR db timeout after {100 + i}ms "
            f"conn=10.1.2.{i} req=4f9c2a{i:06x}"
            for i in range(20)
        ]
        + [
            "2026-11-22T11:59:59Z ERROR upstream failed: "
            "Authorization: Bearer abc.def.ghi password=hunter2 "
            "url=postgres://app:s3cretpw@db:5432/x api_key=AKIAABCDEFGHIJKLMNOP",
            "-----BEGIN RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA7",
            "-----END RSA PRIVATE KEY-----",
        ]
    )
    api.logs["task-service-7d9f-01"] = "2026-11-22T11:58:00Z FATAL out of memory\n"
    api.previous_logs["task-service-7d9f-00"] = "2026-11-22T11:49:00Z panic: boom\n"
