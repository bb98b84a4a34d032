"""Issue 13, findings 4 and 5, against the running bot: signed slash commands and an
Alertmanager notification delivered over HTTP, the Kubernetes double serving hostile logs, real
Redis. The worst `--grep` pattern and a hostile log line are answered, secrets are gone, and the
event loop keeps serving `/healthz` while the logs are processed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.blockkit import unescape
from bot.diagnostics.actions import default_actions
from bot.diagnostics.actions import logs as logs_action
from bot.playbooks.loader import load_playbooks, params_models
from bot.policy.alerts import AlertPolicy
from bot.policy.models import Cluster, Policy, RoleGrant
from bot.remediation.actions import default_remediations
from bot.sandbox.doubles.kubernetes import Cluster as KubeCluster
from bot.sandbox.doubles.kubernetes import (
    KubernetesDouble,
    ManualClock,
    add_logs,
    deployment_pods,
    orion_prod,
)
from bot.settings import DEFAULT_PLAYBOOKS_DIR
from bot.store.store import Store
from tests.diagnostics.conftest import RESPONDER, make_rig
from tests.diagnostics.test_kubernetes import text_of
from tests.harness import WEBHOOK_TOKEN, Builder, Harness, eventually

NS = "orion-prod"
SECRETS = ("hunter2", "AKIAIOSFODNN7EXAMPLE", "ZmFrZXVzZXI6ZmFrZXBhc3N3b3Jk")
# Finding 5's line (16 KB of it took 17 s in the old redaction; this is 60 KB, within the
# 64 KiB a pod's log is read to), then an error line carrying secrets.
# Finding 8: what redaction missed, one log line each.
FINDING_8 = {
    "ERROR auth failed Authorization: Basic ZmFrZXVzZXI6ZmFrZXBhc3N3b3Jk": "ZmFrZXVzZXI6",
    "ERROR auth failed Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b": "9944b091",
    "ERROR db down postgres://app:p@ss/w0rd@db:5432/orders": "p@ss/w0rd",
    "ERROR notify https://hooks.slack.com/services/T0000/B0000/FAKEfakeFAKEfake": "FAKEfakeFAKE",
    "ERROR charge sk_live_FAKEfakeFAKEfake0123456789": "FAKEfakeFAKEfake0123",
    "ERROR push github_pat_11FAKE0123456789_" + "f" * 59: "github_pat_11FAKE",
    "ERROR maps AIzaSyFAKEfakeFAKEfake0123456789abcdEF": "AIzaSyFAKE",
    "ERROR request Cookie: session=FAKEsessionFAKEsession0123": "FAKEsession",
}
# An error `diagnose` quotes in its first line (payments' only one).
QUOTED = "ERROR charge failed for <!channel> <@U0EVIL> & <https://x.example|click> token=hunter2"
HOSTILE = [
    "a." * 30_000,
    "ERROR upstream 500 password=hunter2 key=AKIAIOSFODNN7EXAMPLE "
    "Authorization: Basic ZmFrZXVzZXI6ZmFrZXBhc3N3b3Jk",
    *FINDING_8,
]


class LoopWatch:
    """Holds each log-processing call (`logs.read_lines`) in its worker thread until the event loop
    has answered `/healthz`. Were the processing on the loop, `/healthz` could not answer while
    a call waits, and the call would give up after 10 s: recorded as False."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started = threading.Event()
        self.served = threading.Event()
        self.calls: list[bool] = []

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any) -> Any:
            self.started.set()
            self.calls.append(self.served.wait(timeout=10))
            return real(*args)

        return held

    async def answer_healthz(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 10), "no log was processed"
        async with aiohttp.ClientSession() as session, session.get(self.url) as response:
            assert response.status == 200
        self.served.set()


def watch_loop(world: Harness, monkeypatch: pytest.MonkeyPatch) -> LoopWatch:
    """Time /healthz while the log lines are processed."""
    loop_watch = LoopWatch(f"{world.app.url}/healthz")
    monkeypatch.setattr(logs_action, "read_lines", loop_watch.wrap(logs_action.read_lines))
    return loop_watch


def told_texts(world: Harness, user: str) -> list[str]:
    """The texts `user` was shown privately (their text only)."""
    return [e.text or "" for e in world.slack.ephemerals(user_id=user)]


@pytest.fixture
async def world(build: Callable[..., Builder]) -> Harness:
    """oncall (@olive, responder) in #war-room, #alerts and #incidents; orion-prod with hostile
    lines in task-service's pod logs; the shipped playbooks."""
    cluster = KubeCluster(ManualClock(datetime.now(UTC)))
    orion_prod(cluster)
    for pod in deployment_pods(cluster, NS, "task-service"):
        add_logs(cluster, NS, pod["metadata"]["name"], HOSTILE)
    for pod in deployment_pods(cluster, NS, "payments"):
        add_logs(cluster, NS, pod["metadata"]["name"], [QUOTED] * 30)
    builder = build().people(oncall="olive").channel("room", "war-room").channel("alerts")
    builder.channel("broadcast", "incidents")
    oncall = builder.ids["oncall"]
    reads = ("pods", "describe", "events", "top", "rollout-history", "logs", "diagnose", "query")
    policy = Policy(
        roles={
            "viewer": RoleGrant(actions=("pods",)),
            "responder": RoleGrant(users=(oncall,), actions=reads, namespaces=("orion-*",)),
            "commander": RoleGrant(actions=reads),
            "admin": RoleGrant(actions=("*",)),
        },
        clusters={"test": Cluster(context="test", namespaces=("orion-*",), default_namespace=NS)},
        alerts=AlertPolicy(run_as="responder", silence_roles=("responder",), routes=()),
    )
    models = params_models(default_actions(), default_remediations())
    playbooks = load_playbooks(DEFAULT_PLAYBOOKS_DIR, models)
    return await builder.kubernetes(cluster).policy(policy).playbooks(playbooks).start()


def flat(message: dict[str, Any]) -> str:
    text: str = message.get("text", "")
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + text


async def test_finding_4_the_worst_grep_pattern_is_answered_and_the_bot_stays_up(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = watch_loop(world, monkeypatch)
    healthz = asyncio.create_task(watch.answer_healthz())
    await world.command(world.oncall, "logs task-service --grep '(.*)*!'", limit_s=20.0)
    await healthz
    posted = await eventually(
        lambda: [m for m in world.slack.messages(world.room) if "Logs of" in flat(m)], 10.0
    )
    assert "No lines match" in flat(posted[0])
    assert watch.calls and all(watch.calls), "the event loop was blocked by the log processing"

    # The same pattern, matching: the lines are found, redacted.
    await world.command(world.oncall, "logs task-service --grep 'upstream (5.*)*0'", limit_s=20.0)
    posted = [m for m in world.slack.messages(world.room) if "Logs of" in flat(m)]
    assert "ERROR upstream 500 password=[redacted]" in flat(posted[-1])
    assert not any(secret in flat(posted[-1]) for secret in SECRETS)


async def test_finding_8_no_secret_shape_reaches_slack(world: Harness) -> None:
    await world.command(world.oncall, "logs task-service", limit_s=20.0)
    [posted] = [m for m in world.slack.messages(world.room) if "Logs of" in flat(m)]
    shown = json.dumps(world.slack.thread(world.room, posted["ts"])) + flat(posted)
    shown += "".join(world.slack.file_content(f).decode() for f in world.slack.file_ids())
    assert "Authorization: Basic [redacted]" in shown and "sk_live" not in shown
    for line, secret in FINDING_8.items():
        assert secret not in shown, line


@pytest.mark.parametrize(
    ("pattern", "told"),
    [
        ("(err)\\1", "`--grep` refers back to a group"),
        ("(?<!db )timeout", "`--grep` uses a lookahead or lookbehind"),
        ("a++", "`--grep` uses a possessive or atomic group"),
        ("call(42", "`--grep` has an unmatched bracket"),
    ],
)
async def test_a_pattern_re2_cannot_run_is_answered_with_what_to_type(
    world: Harness, pattern: str, told: str
) -> None:
    await world.command(world.oncall, f"logs task-service --grep '{pattern}'", limit_s=20.0)
    answer = next(unescape(t) for t in told_texts(world, world.oncall) if told in unescape(t))
    assert "e.g. `--grep '" in answer and "Type `/incident logs <pod|deployment>" in answer
    assert not [m for m in world.slack.messages(world.room) if "Logs of" in flat(m)]


@pytest.mark.slow
async def test_finding_5_a_hostile_log_line_on_an_alerts_first_firing(
    world: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Slack access needed: the high-error-rate playbook reads the logs on first firing."""
    watch = watch_loop(world, monkeypatch)
    healthz = asyncio.create_task(watch.answer_healthz())
    labels = {"alertname": "HighErrorRate", "severity": "critical", "namespace": NS,
              "service": "task-service"}  # fmt: skip
    body = {
        "version": "4", "groupKey": '{}:{alertname="HighErrorRate"}', "status": "firing",
        "receiver": "fireline", "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "labels": labels, "annotations": {"summary": "5xx above 5%"},
            "startsAt": "2026-11-22T18:45:12Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": "fp-hostile",
        }],
    }  # fmt: skip
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{world.app.url}/webhooks/alertmanager",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        ) as response,
    ):
        assert response.status == 200
    await asyncio.wait_for(healthz, 30)

    def logs_in_thread() -> list[dict[str, Any]]:
        parents = world.slack.messages(world.alerts)
        if not parents:
            return []
        thread = world.slack.thread(world.alerts, parents[0]["ts"])
        return [m for m in thread if "Logs of" in flat(m)]

    [posted] = await eventually(logs_in_thread, 30.0, "the playbook's logs in the alert thread")
    assert "ERROR upstream 500 password=[redacted]" in flat(posted)
    assert not any(secret in flat(posted) for secret in SECRETS)
    assert watch.calls and all(watch.calls), "the event loop was blocked by the log processing"


async def test_a_1_mb_hostile_line_through_the_logs_action(
    kube_api: KubernetesDouble, diag_store: Store
) -> None:
    """The bound a playbook may raise a read to (1 MiB): redacted and grouped, in full."""
    rig = make_rig(kube_api, diag_store, timeout_s=60)
    line = "password=x," * 95_000 + " ERROR failed AKIAIOSFODNN7EXAMPLE"
    add_logs(rig.kube.cluster, NS, rig.pods[0], [line])
    action = rig.action("logs")
    params = action.build({"target": rig.pods[0], "limit_bytes": 1024 * 1024, "since": "1h"})
    run = await rig.service.run(action, params, user=RESPONDER, incident=None)
    assert run.outcome == "ok", run.message
    assert run.result is not None
    text = text_of(run) + "".join(str(f.content) for f in run.result.files)
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "=x," not in text
    assert "Error patterns" in text


async def test_a_hostile_error_line_quoted_by_diagnose_is_escaped_and_redacted(
    world: Harness,
) -> None:
    """`diagnose` quotes an error's latest line as written (its findings: "Most frequent error
    in the logs: `…` ×60"): a mention, markup and a secret in it reach Slack as text, redacted."""
    await world.command(world.oncall, "diagnose payments", limit_s=20.0)
    [posted] = [m for m in world.slack.messages(world.room) if "Diagnosis of" in flat(m)]
    shown = flat(posted)
    assert (
        "Most frequent error in the logs: `ERROR charge failed for &lt;!channel&gt; "
        "&lt;@U0EVIL&gt; &amp; &lt;https://x.example|click&gt; token=[redacted]` ×60"
    ) in shown
    assert "<!channel>" not in shown and "<@U0EVIL>" not in shown and "hunter2" not in shown
