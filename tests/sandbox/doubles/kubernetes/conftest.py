"""Fixtures for the Kubernetes double: a schema validator on every served object."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import pytest
from kubernetes import client
from referencing import Registry, Resource

from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, Timing, api_client

K8S_VERSION = "1.37.0"
_SCHEMA_DIR = "kubernetes-json-schema/v1.37.0-local-strict"

# meta/v1 kinds are served with apiVersion "v1", but kubernetes-validate files them under
# "meta-v1", which its apiVersion -> file mapping cannot reach; same schemas, loaded directly.
META_KINDS = {"Status", "APIVersions", "APIGroupList", "APIResourceList"}
# metrics.k8s.io is an aggregated API served by metrics-server; its types are not part of the
# Kubernetes OpenAPI document kubernetes-validate ships, so there is no schema to check against.
NO_SCHEMA_KINDS = {"PodMetrics", "PodMetricsList", "NodeMetrics", "NodeMetricsList"}
# Tables (kubectl's `get` output, meta.k8s.io/v1) and aggregated discovery
# (apidiscovery.k8s.io/v2) are not in kubernetes-validate's schemas either; the objects a Table
# shows are validated on their own as the double serves them.
NO_SCHEMA_KINDS |= {"Table", "APIGroupDiscoveryList"}

# kubernetes_validate re-reads and re-parses the 1.8 MB definitions file on every call;
# caching the (read-only) parsed schemas keeps the suite fast without changing the checks.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


def _validate_meta(obj: dict[str, Any]) -> None:
    schema = kv_utils.schema_contents(
        f"{_SCHEMA_DIR}/{obj['kind'].lower()}-meta-v1.json", K8S_VERSION
    )
    definitions = kv_utils.schema_contents(f"{_SCHEMA_DIR}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    jsonschema.validators.Draft202012Validator(schema, registry=registry).validate(obj)


class SchemaValidator:
    """`on_serve` hook: validates every object the double returns, in strict mode."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.validated = 0
        self.skipped = 0

    def __call__(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind", "")
        try:
            if kind in NO_SCHEMA_KINDS:
                self.skipped += 1
                return
            if kind in META_KINDS:
                _validate_meta(obj)
            else:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            self.validated += 1
        except Exception as error:
            name = obj.get("metadata", {}).get("name", "?")
            self.errors.append(f"{kind}/{name}: {getattr(error, 'message', error)}")
            raise


@pytest.fixture(autouse=True)
def schema_validator() -> Iterator[SchemaValidator]:
    validator = SchemaValidator()
    yield validator
    assert not validator.errors, "the double served schema-invalid objects:\n" + "\n".join(
        validator.errors
    )


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(timing=Timing(rollout_step=0.02, pod_ready=0.02))


@pytest.fixture
def double(cluster: Cluster, schema_validator: SchemaValidator) -> Iterator[KubernetesDouble]:
    with KubernetesDouble(cluster, on_serve=schema_validator) as server:
        yield server


@pytest.fixture
def k8s(double: KubernetesDouble) -> Iterator[Any]:
    client = api_client(double.base_url)
    yield client
    client.close()  # type: ignore[no-untyped-call]  # kubernetes leaves it untyped


def name_of(obj: client.V1Pod) -> str:
    """An object's name: the client's models type every field optional, the double fills it."""
    assert obj.metadata is not None and obj.metadata.name is not None
    return obj.metadata.name


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll like `kubectl rollout status` until `predicate` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
