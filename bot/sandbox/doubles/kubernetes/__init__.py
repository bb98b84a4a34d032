"""A Kubernetes API server double for tests and the local sandbox.

Serves real HTTP on 127.0.0.1 to the official `kubernetes` client: core/v1, apps/v1,
autoscaling/v2, events.k8s.io/v1 and metrics.k8s.io/v1beta1 resources, with a small
deployment controller, dry runs, resourceVersion conflicts and injectable faults.
"""

from bot.sandbox.doubles.kubernetes.autoscaling import add_hpa
from bot.sandbox.doubles.kubernetes.client import api_client, configuration, write_kubeconfig
from bot.sandbox.doubles.kubernetes.clock import Clock, ManualClock, SystemClock
from bot.sandbox.doubles.kubernetes.controller import reconcile
from bot.sandbox.doubles.kubernetes.errors import ApiError
from bot.sandbox.doubles.kubernetes.events import add_event
from bot.sandbox.doubles.kubernetes.faults import FaultRule, Faults, RequestLog, RequestRecord
from bot.sandbox.doubles.kubernetes.metrics import add_node, set_pod_usage
from bot.sandbox.doubles.kubernetes.networking import add_service, sync_endpoints
from bot.sandbox.doubles.kubernetes.pods import (
    add_logs,
    mark_crash_loop,
    mark_image_pull_backoff,
    mark_oom_killed,
    mark_readiness_failing,
)
from bot.sandbox.doubles.kubernetes.scenarios import ORION_PROD, orion_prod
from bot.sandbox.doubles.kubernetes.server import KubernetesDouble
from bot.sandbox.doubles.kubernetes.store import Cluster, Timing
from bot.sandbox.doubles.kubernetes.workloads import (
    Revision,
    add_deployment,
    add_namespace,
    deployment_pods,
)

__all__ = [
    "ORION_PROD",
    "ApiError",
    "Clock",
    "Cluster",
    "FaultRule",
    "Faults",
    "KubernetesDouble",
    "ManualClock",
    "RequestLog",
    "RequestRecord",
    "Revision",
    "SystemClock",
    "Timing",
    "add_deployment",
    "add_event",
    "add_hpa",
    "add_logs",
    "add_namespace",
    "add_node",
    "add_service",
    "api_client",
    "configuration",
    "deployment_pods",
    "mark_crash_loop",
    "mark_image_pull_backoff",
    "mark_oom_killed",
    "mark_readiness_failing",
    "orion_prod",
    "reconcile",
    "set_pod_usage",
    "sync_endpoints",
    "write_kubeconfig",
]
