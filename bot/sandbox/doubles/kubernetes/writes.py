"""Write semantics: create, update (PUT), patch, delete and the deployments/scale subresource.

Every write honours `dryRun=All` (validate, return the would-be object, persist nothing)
and resourceVersion preconditions (stale -> 409 Conflict).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes import defaults
from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.errors import ApiError, bad_request, conflict, invalid
from bot.sandbox.doubles.kubernetes.patch import apply_patch
from bot.sandbox.doubles.kubernetes.pods import new_pod, terminate
from bot.sandbox.doubles.kubernetes.resources import ResourceType
from bot.sandbox.doubles.kubernetes.selectors import label_selector_matches, selector_string
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


def dry_run_requested(query: Mapping[str, str], body: Any = None) -> bool:
    values = [query["dryRun"]] if "dryRun" in query else []
    if isinstance(body, dict) and isinstance(body.get("dryRun"), list):
        values.extend(body["dryRun"])
    for value in values:
        if value != "All":
            raise ApiError(
                422, f'dryRun: Unsupported value: "{value}": supported values: "All"', "Invalid"
            )
    return bool(values)


def _check_version(resource: ResourceType, stored: Obj, wanted: Any) -> None:
    if wanted and str(wanted) != stored["metadata"]["resourceVersion"]:
        raise conflict(resource.plural, stored["metadata"]["name"], resource.group)


def validate(resource: ResourceType, obj: Obj) -> None:
    """The admission checks the double enforces (a small subset of the API server's)."""
    name = obj.get("metadata", {}).get("name", "")
    if not name:
        raise invalid(
            resource.kind,
            name,
            resource.group,
            "metadata.name",
            "Required value: name or generateName is required",
        )
    if resource.kind != "Deployment":
        return
    spec = obj.get("spec", {})
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        raise invalid(
            "Deployment",
            name,
            "apps",
            "spec.replicas",
            f"Invalid value: {replicas}: must be greater than or equal to 0",
        )
    containers = spec.get("template", {}).get("spec", {}).get("containers") or []
    if not containers:
        raise invalid("Deployment", name, "apps", "spec.template.spec.containers", "Required value")
    for index, container in enumerate(containers):
        if not container.get("image"):
            raise invalid(
                "Deployment",
                name,
                "apps",
                f"spec.template.spec.containers[{index}].image",
                "Required value",
            )
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    if not label_selector_matches(spec.get("selector", {}), labels):
        raise invalid(
            "Deployment",
            name,
            "apps",
            "spec.template.metadata.labels",
            f"Invalid value: {labels}: `selector` does not match template `labels`",
        )


def create(
    cluster: Cluster, resource: ResourceType, namespace: str | None, body: Any, dry_run: bool
) -> Obj:
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    obj = copy.deepcopy(body)
    obj.setdefault("apiVersion", resource.api_version)
    obj.setdefault("kind", resource.kind)
    if namespace is not None:
        obj.setdefault("metadata", {})["namespace"] = namespace
    meta = obj.setdefault("metadata", {})
    if "name" not in meta and "generateName" in meta:
        meta["name"] = meta["generateName"] + cluster.random_suffix()
    meta.pop("creationTimestamp", None)  # kubectl sends null; the server sets it
    defaults.on_create(cluster, obj)
    validate(resource, obj)
    if resource.kind == "Pod" and not obj.get("status"):
        return _schedule(cluster, obj, dry_run)
    return cluster.create(obj, dry_run=dry_run)


def _schedule(cluster: Cluster, obj: Obj, dry_run: bool) -> Obj:
    """A pod created on its own (`kubectl run`): bound to a node, Ready once started."""
    with cluster.lock:
        meta = obj["metadata"]
        template = {"metadata": meta, "spec": obj["spec"]}
        pod = new_pod(cluster, meta["namespace"], meta["name"], template, ready=False)
        pod["metadata"] = {**pod["metadata"], **meta}
        pod["metadata"].pop("creationTimestamp", None)
        stored = cluster.create(pod, dry_run=dry_run)
        if not dry_run:
            key = (meta["namespace"], meta["name"])
            cluster.pod_ready_at[key] = cluster.now() + timedelta(seconds=cluster.timing.pod_ready)
        return stored


def _keep_status(stored: Obj, updated: Obj) -> Obj:
    """Writes to the main resource ignore status, as for every kind with a status subresource."""
    if "status" in stored:
        updated["status"] = copy.deepcopy(stored["status"])
    return updated


def update(
    cluster: Cluster, resource: ResourceType, namespace: str, name: str, body: Any, dry_run: bool
) -> Obj:
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    with cluster.lock:
        stored = cluster.require(resource.api_version, resource.kind, namespace, name)
        meta = body.get("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        _check_version(resource, stored, meta.get("resourceVersion"))
        obj = _keep_status(stored, copy.deepcopy(body))
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        obj.setdefault("metadata", {}).update({"name": name})
        if resource.namespaced:
            obj["metadata"]["namespace"] = namespace
        validate(resource, obj)
        return cluster.update(obj, dry_run=dry_run)


def patch(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str,
    name: str,
    body: Any,
    content_type: str,
    dry_run: bool,
    check: Callable[[Obj], object] | None = None,
) -> Obj:
    with cluster.lock:
        stored = cluster.require(resource.api_version, resource.kind, namespace, name)
        patched = apply_patch(stored, body, content_type)
        if check is not None:
            check(patched)
        _check_version(resource, stored, patched.get("metadata", {}).get("resourceVersion"))
        for field in ("name", "namespace", "uid"):
            if patched.get("metadata", {}).get(field) != stored["metadata"].get(field):
                raise invalid(
                    resource.kind,
                    name,
                    resource.group,
                    f"metadata.{field}",
                    "Invalid value: field is immutable",
                )
        patched["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
        _keep_status(stored, patched)
        validate(resource, patched)
        return cluster.update(patched, dry_run=dry_run)


def delete(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str,
    name: str,
    body: Any,
    dry_run: bool,
    query_grace: int | None = None,
) -> Obj:
    with cluster.lock:
        stored = cluster.require(resource.api_version, resource.kind, namespace, name)
        preconditions = (body.get("preconditions") or {}) if isinstance(body, dict) else {}
        _check_version(resource, stored, preconditions.get("resourceVersion"))
        if preconditions.get("uid") and preconditions["uid"] != stored["metadata"]["uid"]:
            raise ApiError(
                409,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                f"UID in object meta: {stored['metadata']['uid']}",
                "Conflict",
            )
        grace: int | None = None
        if isinstance(body, dict) and body.get("gracePeriodSeconds") is not None:
            grace = int(body["gracePeriodSeconds"])
        if query_grace is not None:
            grace = query_grace
        if resource.kind == "Pod":
            return terminate(cluster, stored, grace, dry_run=dry_run)
        grace = 0 if grace is None else grace
        result = copy.deepcopy(stored)
        result["metadata"]["deletionTimestamp"] = format_time(cluster.now())
        result["metadata"]["deletionGracePeriodSeconds"] = grace
        if not dry_run:
            cluster.delete(resource.api_version, resource.kind, namespace, name)
            policy = body.get("propagationPolicy") if isinstance(body, dict) else None
            if policy != "Orphan":
                _collect_garbage(cluster, namespace, stored["metadata"]["uid"])
        return result


def _collect_garbage(cluster: Cluster, namespace: str, owner_uid: str) -> None:
    """What the garbage collector does after a cascading delete: the owner's dependents go
    too (ReplicaSets of a Deployment, pods of a ReplicaSet, gracefully)."""
    for kind, api_version in (("ReplicaSet", "apps/v1"), ("Pod", "v1")):
        for obj in cluster.list(api_version, kind, namespace):
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            if kind == "Pod":
                terminate(cluster, obj)
            else:
                cluster.delete(api_version, kind, namespace, obj["metadata"]["name"])
                _collect_garbage(cluster, namespace, obj["metadata"]["uid"])


# -- deployments/scale (autoscaling/v1 Scale) ------------------------------------------------
def scale_of(deployment: Obj) -> Obj:
    meta = deployment["metadata"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": deployment["spec"].get("replicas", 1)},
        "status": {
            "replicas": deployment.get("status", {}).get("replicas", 0),
            "selector": selector_string(deployment["spec"]["selector"].get("matchLabels", {})),
        },
    }


def write_scale(
    cluster: Cluster,
    resource: ResourceType,
    namespace: str,
    name: str,
    body: Any,
    content_type: str | None,
    dry_run: bool,
) -> Obj:
    """PUT (content_type None) or PATCH of deployments/scale."""
    with cluster.lock:
        deployment = cluster.require(resource.api_version, resource.kind, namespace, name)
        current = scale_of(deployment)
        if content_type is None:
            if not isinstance(body, dict):
                raise bad_request("the body of the request must be a JSON object")
            wanted = body
        else:
            wanted = apply_patch(current, body, content_type)
        _check_version(resource, deployment, wanted.get("metadata", {}).get("resourceVersion"))
        replicas = wanted.get("spec", {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                name,
                "autoscaling",
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        deployment["spec"]["replicas"] = replicas
        return scale_of(cluster.update(deployment, dry_run=dry_run))


# -- authorization.k8s.io/v1 SelfSubjectAccessReview ---------------------------------------------
def access_review(body: Any) -> Obj:
    """`kubectl auth can-i`: the double authorises everything its token can do (everything)."""
    if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
        raise bad_request("SelfSubjectAccessReview: spec is required")
    spec = body["spec"]
    if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
        raise invalid(
            "SelfSubjectAccessReview",
            "",
            "authorization.k8s.io",
            "spec.resourceAttributes",
            "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes "
            "must be specified",
        )
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": spec,
        "status": {"allowed": True, "reason": "the Kubernetes double allows every request"},
    }
