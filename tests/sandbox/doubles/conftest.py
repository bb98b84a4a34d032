"""Fixtures for the double's kubectl tests: a double on a manual clock, with the schema check
on every object it serves, and raw HTTP to it (the Accept and Content-Type headers kubectl
sends). Named apart from the double's own conftest fixtures (`cluster`, `double`), which run
on the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble, ManualClock, Timing
from tests.sandbox.doubles.kubernetes.conftest import SchemaValidator, schema_validator, wait_for

__all__ = ["schema_validator", "wait_for"]  # schema_validator is autouse: every served object

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
"""What kubectl's `get` sends as Accept."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_cluster(clock: ManualClock) -> Cluster:
    """Controllers that move only when the test moves the clock: one rollout step, a pod
    becoming Ready and a Terminating pod stopping each take one second of it."""
    return Cluster(clock, timing=Timing(rollout_step=1, pod_ready=1))


@pytest.fixture
def manual_double(
    manual_cluster: Cluster, schema_validator: SchemaValidator
) -> Iterator[KubernetesDouble]:
    with KubernetesDouble(manual_cluster, on_serve=schema_validator) as server:
        yield server


@pytest.fixture
def http(manual_double: KubernetesDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=manual_double.base_url, timeout=10) as client:
        yield client


def table(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    """GET `path` as kubectl's `get` does (a Table)."""
    response = http.get(path, params=params, headers={"Accept": TABLE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
    body: dict[str, Any] = response.json()
    return body


def rows(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A Table's rows by name, each row's cells by column name."""
    names = [c["name"] for c in body["columnDefinitions"]]
    by_name = {}
    for row in body["rows"]:
        cells = dict(zip(names, row["cells"], strict=True))
        by_name[str(cells.get("Name", row["cells"][0]))] = cells
    return by_name
