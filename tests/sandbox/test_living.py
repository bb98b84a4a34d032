"""The sandbox's cluster lives, and the rest of the diagnostics answer from it: as a person
in the sandbox meets it, through the Slack workspace double, the bot, the Kubernetes double
and the simulated Prometheus and health endpoints over real HTTP (sandbox time at 60×)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from bot.remediation.views import APPROVE
from bot.sandbox.world import Sandbox
from tests.harness import eventually, flatten

NS = "orion-prod"


@pytest.fixture
def speed() -> float:
    return 60.0  # a rollout of checkout's 3 pods takes ~40 sandbox seconds: under a second


def person(sandbox: Sandbox, handle: str) -> str:
    return next(uid for uid, p in sandbox.people.items() if p.handle == handle)


def _texts(sandbox: Sandbox, who: str, channel: str) -> tuple[list[str], list[str]]:
    """What `who` was shown privately, and what is posted in `channel` (threads included)."""
    shown = [f"{e.text or ''} {flatten(e.blocks or [])}" for e in sandbox.slack.ephemerals(who)]
    posted = [
        f"{m.get('text', '')} {flatten(m.get('blocks') or [])}"
        for m in sandbox.slack.messages(channel, include_replies=True)
    ]
    return shown, posted


async def run(sandbox: Sandbox, who: str, text: str, expect: str, channel: str = "") -> str:
    """Type `/incident <text>` as `who`; the first new message (shown to them or posted)
    that contains `expect`."""
    channel = channel or sandbox.channels["war-room"]
    seen = [len(part) for part in _texts(sandbox, who, channel)]

    def new() -> list[str]:
        shown, posted = _texts(sandbox, who, channel)
        fresh = shown[seen[0] :] + posted[seen[1] :]
        return [t for t in fresh if not t.startswith("Running `")]

    await sandbox.slack.slash_command(who, channel, text)
    return await eventually(
        lambda: next((t for t in new() if expect in t), None),
        20.0,
        f"{expect!r} after /incident {text}; shown: {new()}",
    )


def error_rate_now(answer: str, service: str) -> float:
    found = re.search(rf"service={service},simulated=true\s+([\d.]+) %", answer)
    assert found, answer
    return float(found.group(1))


def rolled_back(sandbox: Sandbox) -> bool:
    """Checkout runs 2.3.0 on 3 ready pods and no 2.4.0 pod is left, Terminating or not."""
    assert sandbox.cluster is not None
    pods = [
        p
        for p in sandbox.cluster.list("v1", "Pod", NS)
        if p["metadata"]["name"].startswith("checkout-")
    ]
    images = {p["spec"]["containers"][0]["image"].rsplit(":", 1)[1] for p in pods}
    ready = [p for p in pods if p["status"]["containerStatuses"][0]["ready"]]
    return images == {"2.3.0"} and len(ready) == 3


async def health(sandbox: Sandbox, service: str) -> tuple[int, dict[str, Any]]:
    assert sandbox.targets is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(sandbox.targets.health[service].url)
    return response.status_code, response.json()


async def test_a_rollback_shows_its_recovery_in_logs_error_rate_and_health(
    sandbox: Sandbox,
) -> None:
    riley, avery = person(sandbox, "riley"), person(sandbox, "avery")

    errors = await run(sandbox, riley, "query error-rate", "5xx share")
    assert error_rate_now(errors, "checkout") > 50
    logs = await run(sandbox, riley, "logs checkout --since 2m", "Logs of `checkout`")
    assert 'ERROR "POST /api/checkout" 500' in logs
    assert (await health(sandbox, "checkout"))[0] == 500

    declared = await run(sandbox, riley, "declare P2 Checkout errors after deploy", "declared")
    incident = next(c for c in sandbox.slack.ws.channels.values() if c.name.startswith("inc-"))
    assert incident.name in declared or incident.id in declared
    card = await run(sandbox, riley, "rollback checkout", "Waiting for approval", incident.id)
    assert "checkout:2.4.0" in card
    approval = next(
        m for m in sandbox.slack.messages(incident.id) if "Waiting for approval" in flatten(m)
    )
    await sandbox.slack.click_button(avery, incident.id, approval["ts"], APPROVE)
    await eventually(lambda: rolled_back(sandbox), 20.0, "checkout rolled back to 2.3.0")
    await sandbox.clock.sleep(20)  # 20 sandbox seconds: a few more lines from the new pods

    logs = await run(sandbox, riley, "logs checkout --since 2m", "Logs of `checkout`", incident.id)
    assert 'INFO "POST /api/checkout" 200' in logs
    assert '" 500 ' not in logs and "· 0 error lines" in logs
    errors = await run(sandbox, riley, "query error-rate --service checkout", "5xx", incident.id)
    assert error_rate_now(errors, "checkout") == 0.0
    status, body = await health(sandbox, "checkout")
    assert status == 200 and body["checks"]["http"] == "ok"

    history = await run(sandbox, riley, "rollout-history checkout", "checkout", incident.id)
    assert "deploy 2.3.0: new tax service client" in history  # the revision keeps its cause
    # Dated by the rollback, minutes ago, not by revision 2's ReplicaSet made 5 days ago.
    assert re.search(r"\n4 \(was 2\) +\S+/checkout:2\.3\.0 +\d+[sm] ago ", history), history
    events = await run(sandbox, riley, "events checkout", "Events", incident.id)
    assert "ScalingReplicaSet" in events or "Scaled" in events


async def test_query_health_and_db_answer_instead_of_not_configured(sandbox: Sandbox) -> None:
    riley, casey = person(sandbox, "riley"), person(sandbox, "casey")
    latency = await run(sandbox, riley, "query p95-latency", "95th percentile")
    assert "service=orders-api,simulated=true" in latency  # 30 s timeouts set its p95
    answer = await run(sandbox, riley, "health all", "Health of `all`")
    assert "checkout      FAIL   500" in answer and "payments      FAIL   503" in answer
    assert "search        OK     200" in answer
    database = await run(sandbox, casey, "db local-postgres", "local-postgres")
    assert "connections" in database and "not configured" not in database
