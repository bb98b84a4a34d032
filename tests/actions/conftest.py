"""The running bot with the Kubernetes double (tests/e2e's remediation world)."""

from tests.e2e.conftest import slack
from tests.e2e.remediation_world import kube_double_fixture, world_fixture

__all__ = ["kube_double_fixture", "slack", "world_fixture"]
