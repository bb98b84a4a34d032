"""Builders for namespaces and Deployments with their ReplicaSet history and pods."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.doubles.kubernetes.clock import format_time
from bot.sandbox.doubles.kubernetes.controller import reconcile
from bot.sandbox.doubles.kubernetes.deployments import (
    CHANGE_CAUSE,
    REVISION,
    new_replica_set,
)
from bot.sandbox.doubles.kubernetes.pods import new_pod
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj


@dataclass(frozen=True)
class Revision:
    """One entry of a deployment's rollout history."""

    image: str
    change_cause: str | None = None
    at: datetime | None = None


def add_namespace(cluster: Cluster, name: str, labels: Mapping[str, str] | None = None) -> Obj:
    existing = cluster.get("v1", "Namespace", "", name)
    if existing is not None:
        return existing
    return cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
                "creationTimestamp": format_time(cluster.now() - timedelta(days=30)),
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
    )


def pod_template(
    name: str,
    image: str,
    labels: Mapping[str, str],
    *,
    requests: Mapping[str, str] | None = None,
    limits: Mapping[str, str] | None = None,
    port: int | None = 8080,
    env: Mapping[str, str] | None = None,
    readiness_path: str | None = "/healthz",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if requests:
        container["resources"]["requests"] = dict(requests)
    if limits:
        container["resources"]["limits"] = dict(limits)
    if port is not None:
        container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        if readiness_path:
            container["readinessProbe"] = {
                "httpGet": {"path": readiness_path, "port": port, "scheme": "HTTP"},
                "periodSeconds": 10,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
            }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "containers": [container],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    }


def add_deployment(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    replicas: int = 2,
    image: str | None = None,
    labels: Mapping[str, str] | None = None,
    requests: Mapping[str, str] | None = None,
    limits: Mapping[str, str] | None = None,
    revisions: Sequence[Revision] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = 8080,
) -> Obj:
    """Create a settled Deployment: one ReplicaSet per revision, Ready pods for the last.

    `revisions` lists the rollout history oldest first; the last entry is what runs now.
    Without it there is a single revision running `image`.
    """
    with cluster.lock:
        add_namespace(cluster, namespace)
        history = list(revisions or [Revision(image or f"registry.example.com/{name}:1.0.0")])
        selector = {"app": name}
        pod_labels = {**selector, **(labels or {})}
        now = cluster.now()
        created = history[0].at or now - timedelta(days=len(history) * 3)
        annotations = {REVISION: str(len(history))}
        if history[-1].change_cause:
            annotations[CHANGE_CAUSE] = history[-1].change_cause
        deployment = cluster.create(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(pod_labels),
                    "annotations": annotations,
                    "creationTimestamp": format_time(created),
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": selector},
                    "template": {},
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                    },
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {},
            }
        )
        for number, revision in enumerate(history, start=1):
            template = pod_template(
                name,
                revision.image,
                pod_labels,
                requests=requests,
                limits=limits,
                env=env,
                port=port,
            )
            deployment["spec"]["template"] = template
            current = number == len(history)
            at = revision.at or now - timedelta(days=len(history) - number, hours=1)
            rs = new_replica_set(cluster, deployment, number, replicas if current else 0)
            rs["metadata"]["creationTimestamp"] = format_time(at)
            rs["metadata"]["annotations"].pop(CHANGE_CAUSE, None)
            if revision.change_cause:
                rs["metadata"]["annotations"][CHANGE_CAUSE] = revision.change_cause
            rs = cluster.create(rs)
            if current:
                for _ in range(replicas):
                    pod_name = f"{rs['metadata']['name']}-{cluster.random_suffix()}"
                    pod = new_pod(
                        cluster,
                        namespace,
                        pod_name,
                        copy.deepcopy(rs["spec"]["template"]),
                        owner=rs,
                        started=at,
                    )
                    cluster.create(pod)
        cluster.update(deployment)
        reconcile(cluster)
        return cluster.require("apps/v1", "Deployment", namespace, name)


def deployment_pods(cluster: Cluster, namespace: str, name: str) -> list[Obj]:
    """The pods of a deployment's current ReplicaSet (by label selector and revision)."""
    deployment = cluster.require("apps/v1", "Deployment", namespace, name)
    revision = deployment["metadata"]["annotations"][REVISION]
    replica_sets = [
        rs
        for rs in cluster.list("apps/v1", "ReplicaSet", namespace)
        if rs["metadata"]["annotations"].get(REVISION) == revision
        and rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    ]
    uids = {rs["metadata"]["uid"] for rs in replica_sets}
    return [
        pod
        for pod in cluster.list("v1", "Pod", namespace)
        if any(ref["uid"] in uids for ref in pod["metadata"].get("ownerReferences", []))
    ]
