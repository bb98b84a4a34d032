"""Injected faults surface from the official client as a real API server's would."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, add_deployment, configuration


@pytest.fixture
def seeded(cluster: Cluster, double: KubernetesDouble) -> KubernetesDouble:
    add_deployment(cluster, "x", "api", replicas=1)
    return double


def test_forbidden_has_the_api_server_message(k8s, seeded):
    seeded.faults.fail("list", r"/namespaces/x/pods$", 403)
    core = client.CoreV1Api(k8s)
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod("x")
    assert raised.value.status == 403
    assert raised.value.body is not None
    status = json.loads(raised.value.body)
    assert status["reason"] == "Forbidden" and status["kind"] == "Status"
    assert status["message"] == (
        'pods is forbidden: User "system:serviceaccount:fireline:fireline" cannot list '
        'resource "pods" in API group "" in the namespace "x"'
    )
    assert len(core.list_namespaced_pod("x").items) == 1  # only the next request failed


def test_forbidden_patch_on_subresource(k8s, seeded):
    seeded.faults.fail("patch", r"/deployments/api/scale$", 403)
    with pytest.raises(ApiException) as raised:
        client.AppsV1Api(k8s).patch_namespaced_deployment_scale(
            "api", "x", {"spec": {"replicas": 2}}
        )
    assert raised.value.body is not None
    assert (
        'cannot patch resource "deployments/scale" in API group "apps"'
        in (json.loads(raised.value.body)["message"])
    )


def test_too_many_requests_carries_retry_after(seeded):
    config = configuration(seeded.base_url)
    config.retries = False  # see the raw 429; urllib3's default Retry would honour Retry-After
    with client.ApiClient(config) as api:
        seeded.faults.fail("GET", r"/pods", 429, retry_after=3)
        with pytest.raises(ApiException) as raised:
            client.CoreV1Api(api).list_namespaced_pod("x")
    assert raised.value.status == 429
    assert raised.value.headers is not None
    assert raised.value.headers["Retry-After"] == "3"
    assert raised.value.body is not None
    assert json.loads(raised.value.body)["details"]["retryAfterSeconds"] == 3


@pytest.mark.slow
def test_default_client_retries_a_429_after_retry_after(k8s, seeded):
    seeded.faults.fail("list", r"/pods$", 429, retry_after=1)
    assert len(client.CoreV1Api(k8s).list_namespaced_pod("x").items) == 1
    assert len(seeded.requests.find("list", r"/pods$")) == 2


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (404, "NotFound"),
        (409, "Conflict"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_other_status_codes(k8s, seeded, code, reason):
    seeded.faults.fail("get", r"/deployments/api$", code)
    with pytest.raises(ApiException) as raised:
        client.AppsV1Api(k8s).read_namespaced_deployment("api", "x")
    assert raised.value.status == code
    assert raised.value.body is not None
    assert json.loads(raised.value.body)["reason"] == reason


def test_latency_is_added_to_every_request(k8s, seeded):
    seeded.faults.set_latency(0.03)
    core = client.CoreV1Api(k8s)
    started = time.monotonic()
    for _ in range(3):
        core.list_namespaced_pod("x")
    assert time.monotonic() - started >= 0.09


def test_hang_times_out_on_the_client(k8s, seeded):
    seeded.faults.hang("get", r"/deployments/api$", times=None)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.AppsV1Api(k8s).read_namespaced_deployment("api", "x", _request_timeout=0.2)
    assert time.monotonic() - started < 3
    seeded.faults.clear()
    metadata = client.AppsV1Api(k8s).read_namespaced_deployment("api", "x").metadata
    assert metadata is not None and metadata.name == "api"


def test_request_log_records_verb_path_and_query(k8s, seeded):
    seeded.requests.clear()
    client.CoreV1Api(k8s).list_namespaced_pod("x", label_selector="app=api", limit=5)
    client.AppsV1Api(k8s).patch_namespaced_deployment(
        "api", "x", {"metadata": {"labels": {"a": "b"}}}
    )
    (listing,) = seeded.requests.find("list", r"/pods$")
    assert (listing.method, listing.path) == ("GET", "/api/v1/namespaces/x/pods")
    assert listing.query == {"labelSelector": "app=api", "limit": "5"}
    (patching,) = seeded.requests.find("PATCH")
    assert patching.verb == "patch" and patching.body == {"metadata": {"labels": {"a": "b"}}}
