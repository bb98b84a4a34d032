"""A remediation's approval reaches the team's log pipeline: exactly one audit JSON line on
`fireline.audit`, with who approved what on which target, through the whole bot (a signed
click in the Slack double, real Redis, the Kubernetes double)."""

from __future__ import annotations

from bot.remediation import views as approval_blocks
from bot.remediation.store import State
from tests.harness import Harness
from tests.remediation.test_remediation import incident_with_request
from tests.remediation.world import NS, click, until_state
from tests.store.test_audit import audit_lines, logged


async def test_an_approval_is_exactly_one_audit_json_line(world: Harness) -> None:
    w = world
    _, channel = await incident_with_request(w, "scale task-service 4")
    with logged("json") as out:
        await click(w, w.apollo, channel, approval_blocks.APPROVE)
        await until_state(w, "R-1", State.SUCCEEDED)
    lines = audit_lines(out, "json")
    [approved] = [line for line in lines if line["outcome"] == "approved"]
    assert approved["actor"] == w.apollo
    assert approved["action"] == "scale"
    assert approved["target"] == f"deployment task-service in test/{NS}"
    assert approved["remediation"] == "R-1" and approved["requester"] == w.rita
    assert approved["stream_id"], "stored in the stream as well"
    # Every event of the run is a line of its own, once: approved, then how it ended.
    assert [line["outcome"] for line in lines] == ["approved", "succeeded"]
