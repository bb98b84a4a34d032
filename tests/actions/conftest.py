"""The running bot with the Kubernetes double: the remediation world (tests/remediation)."""

from collections.abc import Callable

import pytest

from tests.harness import Builder, Harness
from tests.remediation.world import remediation_world


@pytest.fixture
async def world(build: Callable[..., Builder]) -> Harness:
    return await remediation_world(build())
