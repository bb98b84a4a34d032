"""Defaulting on create, as the API server's defaulters do for the kinds kubectl creates.

`kubectl create deployment`, `create service`, `create namespace`, `run` and `apply` send
objects without the fields the API server fills in (strategy, image pull policy, cluster IP,
protocol, phase...). Served back without them, they would look unlike a cluster's objects in
`get -o yaml`, and the controllers would have to guess. A subset: the fields the printers and
the double's controllers read, and the ones `kubectl get -o yaml` shows on every object.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def _container(container: dict[str, Any]) -> None:
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("resources", {})
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or []:
        _container(container)


def deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def service(cluster: Cluster, obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        ip = f"10.96.{cluster.random.randrange(0, 255)}.{cluster.random.randrange(1, 254)}"
        spec["clusterIP"] = ip
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def namespace(obj: Obj) -> None:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}


def on_create(cluster: Cluster, obj: Obj) -> None:
    """Fill in what the API server would, in place."""
    kind = obj.get("kind")
    if kind == "Deployment":
        deployment(obj)
    elif kind == "Service":
        service(cluster, obj)
    elif kind == "Namespace":
        namespace(obj)
    elif kind == "Pod":
        pod_spec(obj.setdefault("spec", {}))
