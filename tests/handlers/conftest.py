"""The running bot (tests/e2e's harness): Slack double over real HTTP, real Redis."""

from tests.e2e.conftest import harness, slack

__all__ = ["harness", "slack"]
