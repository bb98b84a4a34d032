"""Chaos soak: three bot replicas as processes on Redis Sentinel, a scripted workload, a replica
SIGKILLed every 20 s and the Redis master lost once; then nothing lost, nothing twice.

    python -m bench.soak [--minutes 10] [--kill-every 20] [--smoke]

What runs, all on loopback: a master, two replicas and three Sentinels (`redis-server`
processes, tests/sentinel_cluster.py); the Slack Web API double in this process, delivering
to the bots through a small balancer that sends each request to a live replica (as a
Kubernetes Service does); three `fireline serve` processes (`FIRELINE_REDIS_SENTINELS`).

The workload, for `--minutes`: people declare incidents (`/incident declare`; declaring does
not acknowledge here, `FIRELINE_DECLARE_ACKNOWLEDGES=false`), click Acknowledge on incident
cards (again on cards already acknowledged: stale clients), tick items of the incidents'
checklists Done or Not applicable (on the message as it is or on the copy first seen, some
twice; `bench._soak_checklists`: the packaged checklists with a first one at minute 1, the
earliest mark a checklists file may name), Alertmanager posts new alert groups to a live
replica (again after a failure or a 5xx, as Alertmanager does), and every 5 s a responder asks
for `restart svc-<k>` in a new incident's channel and an approver double-clicks Approve (the
Kubernetes double over HTTP, reached through a kubeconfig; the policy file grants it). Every
`--kill-every` seconds (`--smoke`: 10) a random replica is SIGKILLed and started again (a
crashed pod replaced; started again after a pause if it exits because Redis has no master
mid-failover, as a pod in back-off is); half-way through, the Redis master is SIGKILLed (a
lost machine) and Sentinel fails over.

Then, once every replica runs again and the work has settled, checked against Redis (through
Sentinel):
- **0 lost**: every person told "INC-n declared … join #channel" has INC-n in Redis with that
  channel; every "acknowledged — thank you" is acknowledged in Redis; every alert group
  Alertmanager got a 200 for has its thread in #alerts; every approval a card shows is recorded;
  every "Recorded: “item” is done" is that person's answer in Redis, and every "was already
  marked done by @x" is x's.
- **0 duplicated**: one incident per declaration (titles unique), no incident channel made
  twice (`-2`), one card per incident channel, one thread parent per alert group, no
  deployment restarted twice (each approval is for its own deployment), one message per
  checklist posted, one timeline entry per checklist answer.
- **consistent**: every incident's card shows the status Redis holds, rendered at its version;
  every checklist message shows exactly the answers Redis holds (who, done or not applicable).

The smoke mode (`--smoke`, CI) runs 24 s of workload: that ends before the first checklist's
minute, so it ticks nothing (checklists posted while the checks wait are checked all the
same); a run of 2 minutes or more must have answered some.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench._soak_checklists import Ticker, TickTally, checklist_problems, write_checklists
from bench._support import add_smoke_flag, check
from bot.blockkit import ACK
from bot.incident import Status
from bot.remediation import views as approval_blocks
from bot.remediation.store import RemediationStore, State
from bot.sandbox.doubles.kubernetes import (
    Cluster,
    KubernetesDouble,
    Timing,
    add_deployment,
    write_kubeconfig,
)
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import connect
from bot.store.store import Store
from tests.alerts.storm import notification
from tests.fireline_process import Fireline, fireline_env
from tests.ports import free_port
from tests.sentinel_cluster import SentinelCluster

SIGNING_SECRET = "soak-signing-secret"
WEBHOOK_TOKEN = "soak-webhook-token-0123456789"
PREFIX = "fireline:"
SETTLE_S = 90.0
"""Longest the checks wait for the replicas to finish what they were doing."""
RESTARTS = 10
"""Starts a replaced replica gets (a pod in crash-loop back-off) before the soak gives up."""


@dataclass
class Tally:
    declares: int = 0
    clicks: int = 0
    alerts_sent: int = 0
    alerts_accepted: dict[int, int] = field(default_factory=dict)
    """Alert group → the status Alertmanager finally got."""
    kills: int = 0
    restarts_refused: int = 0
    """Replacement starts that exited (no Redis master to reach mid-failover) and were retried."""
    failover_s: float = 0.0
    applied: int = 0
    """Approved restarts applied (each exactly once)."""
    approvals: dict[int, str] = field(default_factory=dict)
    states: Counter[str] = field(default_factory=Counter)
    """What became of the approval requests, by the state Redis holds."""
    unapplied: list[str] = field(default_factory=list)
    """Requests that did not end succeeded: their state, reason and last steps."""
    ticks: TickTally = field(default_factory=TickTally)
    kube: Any = None
    """Restart of `svc-<k>` → the channel its approval card is in (clicked Approve twice)."""


class Replicas:
    """Three `fireline serve` processes on fixed ports; one killed and replaced on demand."""

    def __init__(self, workdir: Path, env: dict[str, str], count: int = 3) -> None:
        self.workdir = workdir
        self.env = env
        self.ports = [free_port() for _ in range(count)]
        self.running: dict[int, Fireline] = {}
        self.starting: set[int] = set()
        self.outputs: list[str] = []

    def url(self, slot: int) -> str:
        return f"http://127.0.0.1:{self.ports[slot]}"

    async def start(self, slot: int) -> None:
        self.starting.add(slot)
        env = {
            **self.env,
            "FIRELINE_HTTP_PORT": str(self.ports[slot]),
            "FIRELINE_INSTANCE": f"replica-{slot}",
        }
        run = await Fireline(["serve"], cwd=self.workdir, env=env).start()
        try:
            await run.url()
        except BaseException:
            await run.kill()  # never left running when it did not come up
            self.outputs.append(run.output)
            raise
        finally:
            self.starting.discard(slot)
        self.running[slot] = run

    def live(self) -> list[int]:
        return [
            slot
            for slot, run in self.running.items()
            if run.process is not None and run.process.returncode is None
        ]

    async def kill(self, slot: int) -> None:
        run = self.running.pop(slot)
        run.send(signal.SIGKILL)
        await run.exit_code()
        self.outputs.append(run.output)

    async def close(self) -> None:
        for run in list(self.running.values()):
            await run.kill()
            self.outputs.append(run.output)
        self.running.clear()


class Balancer:
    """Slack's deliveries to a live replica (a Service's endpoints: those that answer)."""

    def __init__(self, replicas: Replicas) -> None:
        self.replicas = replicas
        self.port = free_port()
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application()
        app.router.add_post("/slack/events", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-slack")}
        headers["Content-Type"] = request.headers.get("Content-Type", "")
        for slot in random.sample(self.replicas.live(), len(self.replicas.live())):
            try:
                async with self.session.post(
                    f"{self.replicas.url(slot)}/slack/events", data=body, headers=headers
                ) as answer:
                    text = await answer.text()
                    kind = answer.headers.get("Content-Type", "text/plain").split(";")[0]
                    return web.Response(status=answer.status, text=text, content_type=kind)
            except aiohttp.ClientError:
                continue  # that pod just died: the next endpoint
        return web.Response(status=503, text="no replica")

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


async def alertmanager(replicas: Replicas, group: int, until: float) -> int:
    """POST one group's notification to a live replica until it is accepted (or `until`)."""
    status = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while time.monotonic() < until:
            live = replicas.live()
            if live:
                url = f"{replicas.url(random.choice(live))}/webhooks/alertmanager"
                headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.post(
                        url, data=notification(group, 2), headers=headers
                    ) as answer:
                        status = answer.status
                        if status == 200:
                            return status
            await asyncio.sleep(0.5)  # Alertmanager's pause between tries
    return status


async def soak(minutes: float, kill_every: float, smoke: bool) -> None:
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="fireline-soak-") as tmp:
        workdir = Path(tmp)
        async with (
            SentinelCluster(workdir / "redis", replicas=2) as cluster,
            SlackDouble(signing_secret=SIGNING_SECRET) as slack,
        ):
            people = [slack.add_user(name) for name in ("alice", "bob", "carol")]
            kube = KubernetesDouble(targets(minutes))
            await asyncio.to_thread(kube.start)
            kubeconfig = write_kubeconfig(
                workdir / "kubeconfig", kube.base_url, context="soak", namespace="orion-prod"
            )
            policy = workdir / "policy.yaml"
            policy.write_text(POLICY.format(alice=people[0], bob=people[1], carol=people[2]))
            room = slack.add_channel("war-room", members=people)
            alerts = slack.add_channel("alerts", members=people)
            broadcast = slack.add_channel("incidents", members=people, bot_member=False)
            env = fireline_env(
                SLACK_BOT_TOKEN=slack.bot_token,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=slack.api_url,
                FIRELINE_HTTP_HOST="127.0.0.1",
                FIRELINE_ALERTS_CHANNEL=alerts,
                FIRELINE_BROADCAST_CHANNEL=broadcast,
                FIRELINE_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                FIRELINE_SLACK_RATE_SCALE="20",
                FIRELINE_POLICY_FILE=str(policy),
                FIRELINE_DECLARE_ACKNOWLEDGES="false",  # cards keep Acknowledge to click
                FIRELINE_CHECKLISTS_FILE=str(write_checklists(workdir / "checklists.yaml")),
                KUBECONFIG=str(kubeconfig),
                FIRELINE_LOG_LEVEL="INFO",  # "Fireline is up on …" says where it listens
                **cluster.environment(),
            )
            (workdir / "bots").mkdir()
            replicas = Replicas(workdir / "bots", env)
            balancer = Balancer(replicas)
            await balancer.start()
            slack.request_url = balancer.url
            try:
                started = time.monotonic()
                await asyncio.gather(*(replicas.start(slot) for slot in range(3)))
                print(f"soak: 3 replicas up in {time.monotonic() - started:.1f} s", flush=True)
                await workload(slack, replicas, cluster, people, room, minutes, kill_every, tally)
                tally.kube = kube
                missing = [s for s in range(3) if s not in replicas.running]
                await asyncio.gather(*(replicas.start(slot) for slot in missing))
                store_handle = connect(cluster.storage(PREFIX))
                try:
                    store = Store(store_handle.client, prefix=PREFIX)
                    await verify(slack, store, alerts, tally, ticked=minutes >= 2)
                finally:
                    await store_handle.close()
            except BaseException:
                for output in replicas.outputs + [r.output for r in replicas.running.values()]:
                    print("\n".join(output.splitlines()[-15:]))
                raise
            finally:
                await replicas.close()
                await balancer.close()
                await asyncio.to_thread(kube.stop)


async def workload(
    slack: SlackDouble,
    replicas: Replicas,
    cluster: SentinelCluster,
    people: list[str],
    room: str,
    minutes: float,
    kill_every: float,
    tally: Tally,
) -> None:
    began = time.monotonic()
    end = began + minutes * 60
    failover_at = began + minutes * 30
    next_kill = began + kill_every
    spawned: list[asyncio.Task[Any]] = []
    stale_cards: dict[str, dict[str, Any]] = {}
    ticker = Ticker(slack, people, tally.ticks)

    def spawn(work: Any) -> None:
        spawned.append(asyncio.ensure_future(work))  # every outcome is looked at below

    async def failover() -> None:
        started = time.monotonic()
        await cluster.kill_master()
        tally.failover_s = time.monotonic() - started
        print(f"soak: master lost; Sentinel failed over in {tally.failover_s:.1f} s", flush=True)

    async def replace(slot: int) -> None:
        await replicas.kill(slot)
        tally.kills += 1
        for attempt in range(RESTARTS):
            try:
                await replicas.start(slot)
                return
            except AssertionError:  # it exited: Redis had no master yet
                if attempt == RESTARTS - 1:
                    raise
                tally.restarts_refused += 1
                await asyncio.sleep(1.0)  # a restarted pod's back-off

    n = 0
    failed_over = False
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_kill and replicas.live():
            next_kill += kill_every
            spawn(replace(random.choice(replicas.live())))
        if now >= failover_at and not failed_over:
            failed_over = True
            spawn(failover())
        person = random.choice(people)
        spawn(slack.slash_command(person, room, f"declare P2 soak {n} run"))
        tally.declares += 1
        for channel in list(slack.ws.channels.values())[-8:]:
            if channel.name.startswith("inc-") and random.random() < 0.3:
                card = stale_cards.get(channel.id) or _card(slack, channel.id)
                if card is None:
                    continue
                stale_cards[channel.id] = card
                spawn(slack.click_button(person, channel.id, card["ts"], ACK, message=card))
                tally.clicks += 1
        ticker.step(spawn)
        group = n

        async def send(group: int = group) -> None:
            tally.alerts_accepted[group] = await alertmanager(replicas, group, end + SETTLE_S)

        spawn(send())
        tally.alerts_sent += 1
        if n % 5 == 0:
            spawn(approval(slack, people, room, n // 5, tally, end))
        n += 1
        await asyncio.sleep(1.0)  # the workload's pace: about one of each per second
    results = await asyncio.gather(*spawned, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    # A delivery to a replica that died mid-request fails as Slack's would: not an error here.
    crashes = [e for e in errors if not isinstance(e, aiohttp.ClientError | TimeoutError)]
    check(not crashes, f"the workload itself failed: {crashes[:3]}")


POLICY = """
roles:
  viewer: {{actions: [pods]}}
  responder: {{users: [{alice}], actions: [pods]}}
  commander: {{users: [{bob}], actions: [pods]}}
  admin: {{users: [{carol}], actions: ["*"], namespaces: ["*"]}}
clusters:
  soak: {{context: soak, namespaces: [orion-prod], default_namespace: orion-prod}}
default_cluster: soak
rate_limit: {{per_minute: 600}}  # bob approves twice every 5 s: not what is measured
remediation:
  enabled: true
  self_approval: false
  verify_timeout_s: 30
  actions:
    restart:
      request_roles: [responder]
      approve_roles: [commander]
      namespaces: [orion-prod]
      cooldown_minutes: 0
"""
"""alice requests restarts, bob approves them; everyone may declare and acknowledge."""


def targets(minutes: float) -> Cluster:
    """One deployment per approval the workload can make (`svc-<k>`), so each is restarted at
    most once and a second restart shows as a second patch."""
    cluster = Cluster(timing=Timing(rollout_step=0.01, pod_ready=0.01))
    for k in range(int(minutes * 60 / 5) + 2):
        add_deployment(cluster, "orion-prod", f"svc-{k}", replicas=1)
    return cluster


async def approval(
    slack: SlackDouble, people: list[str], room: str, k: int, tally: Tally, end: float
) -> None:
    """alice declares, asks for `restart svc-<k>` in the incident's channel; bob clicks Approve
    twice on the card (a double click). A step the chaos broke is abandoned: nobody was told
    it was done."""
    alice, bob = people[0], people[1]
    limit = end + 30

    async def until(found: Any) -> Any:
        while time.monotonic() < limit:
            value = found()
            if value:
                return value
            await asyncio.sleep(0.2)  # polling Slack for the bot's work, not a result
        return None

    tally.declares += 1
    await slack.slash_command(alice, room, f"declare P2 soak fix {k} run")
    channel = await until(
        lambda: next(
            (c.id for c in slack.ws.channels.values() if c.name.endswith(f"soak-fix-{k}-run")),
            None,
        )
    )
    if channel is None:
        return
    # bob joins once the channel is set up (its card pinned), as people do when told to join: a
    # member added before the bot saved the channel's ID makes it one a restarted bot may not
    # adopt as its own (`bot.incidents.provision`), and it would make a second channel.
    card_pinned = await until(lambda: any(m.get("pinned_to") for m in slack.messages(channel)))
    if not card_pinned:
        return
    with slack.ws.lock:
        slack.ws.channels[channel].members.append(bob)
    await slack.slash_command(alice, channel, f"restart svc-{k}")
    card = await until(
        lambda: next(
            (m for m in slack.messages(channel) if str(m.get("text", "")).startswith("🛠")), None
        )
    )
    if card is None:
        return
    tally.approvals[k] = channel
    for _ in range(2):
        await slack.click_button(bob, channel, card["ts"], approval_blocks.APPROVE, message=card)


def _card(slack: SlackDouble, channel: str) -> dict[str, Any] | None:
    ours = [m for m in slack.messages(channel) if m.get("user") == slack.bot_user_id]
    return ours[0] if ours and ACK in json.dumps(ours[0]) else None  # the card, with its buttons


async def verify(
    slack: SlackDouble, store: Store, alerts: str, tally: Tally, *, ticked: bool
) -> None:
    deadline = time.monotonic() + SETTLE_S

    def told(fragment: str) -> list[str]:
        return [
            " ".join([e.text or "", json.dumps(e.blocks or [])])
            for e in slack.ephemerals()
            if fragment in (e.text or "")
        ]

    async def settled() -> list[str]:
        problems: list[str] = []
        tally.applied = 0
        tally.states.clear()
        tally.unapplied.clear()
        for text in told(" declared as "):
            incident_id = text.split(" ")[0]
            try:
                incident = await store.get(incident_id)
            except Exception as exc:
                problems.append(f"LOST {incident_id}: {exc}")
                continue
            if f"<#{incident.channel_id}>" not in text:
                problems.append(f"LOST {incident_id}'s channel")
        for text in told(": acknowledged — thank you"):
            incident_id = text.split(":")[0]
            if (await store.get(incident_id)).status is Status.DECLARED:
                problems.append(f"LOST the acknowledgement of {incident_id}")
        parents = [json.dumps(m) for m in slack.messages(alerts)]
        for group, status in tally.alerts_accepted.items():
            shown = sum(f"StormAlert{group:03d}" in p for p in parents)
            if status == 200 and shown != 1:
                problems.append(f"alert group {group}: {shown} threads")
        records = RemediationStore(store.redis, store.keys)
        for k, where in tally.approvals.items():
            restarts = [
                r
                for r in tally.kube.requests.find("patch", f"deployments/svc-{k}$")
                if r.query.get("dryRun") != "All"
            ]
            if len(restarts) > 1:
                problems.append(f"TWICE: svc-{k} restarted {len(restarts)} times")
            card = next(
                (m for m in slack.messages(where) if str(m.get("text", "")).startswith("🛠")),
                None,
            )
            approved = json.dumps(card or {}, ensure_ascii=False)
            if "*R-" in approved:
                shown_id = approved.split("*R-", 1)[1].split("*", 1)[0]
                record_now = await records.get(f"R-{shown_id}")
                tally.states[record_now.state.value if record_now else "missing"] += 1
                if record_now is None or record_now.state is not State.SUCCEEDED:
                    tally.unapplied.append(
                        f"R-{shown_id} {record_now.state.value}: {record_now.reason}; "
                        f"{record_now.history[-3:]}"
                        if record_now
                        else f"R-{shown_id} missing"
                    )
            if "Approved* by" in approved or "Approved by" in approved:
                remediation_id = approved.split("*R-", 1)[1].split("*", 1)[0]
                record = await records.get(f"R-{remediation_id}")
                if record is None or record.state is State.PENDING:
                    problems.append(f"LOST the approval of R-{remediation_id}")
                elif record.applied and len(restarts) != 1:
                    problems.append(f"R-{remediation_id} applied, svc-{k} patched {len(restarts)}")
                elif record.applied:
                    tally.applied += 1
        incidents = await store.list_incidents(open_only=False)
        titles = [i.title for i in incidents]
        if len(titles) != len(set(titles)):
            problems.append("TWICE: an incident recorded twice")
        for channel in slack.ws.channels.values():
            if channel.name.startswith("inc-") and not channel.name.endswith("-run"):
                problems.append(f"TWICE: channel {channel.name}")
        for incident in incidents:
            if incident.channel_id is None:
                continue
            cards = [
                m
                for m in slack.messages(incident.channel_id)
                if m.get("user") == slack.bot_user_id
                and incident.id in json.dumps(m)
                and m.get("pinned_to")
            ]
            if len(cards) != 1:
                problems.append(f"{incident.id}: {len(cards)} pinned cards")
            elif incident.status.label not in json.dumps(cards[0], ensure_ascii=False):
                problems.append(f"{incident.id}: the card does not show {incident.status.value}")
            if incident.rendered_version != incident.version:
                problems.append(f"{incident.id}: card at v{incident.rendered_version}")
        problems += await checklist_problems(slack, store, incidents, tally.ticks)
        return problems

    began = time.monotonic()
    problems = await settled()
    while problems and time.monotonic() < deadline:
        await asyncio.sleep(1.0)  # polling the condition, not waiting for a result
        problems = await settled()
    confirmed = len(told(" declared as "))
    print(f"soak: settled {time.monotonic() - began:.1f} s after the workload", flush=True)
    print(f"soak: approval requests by state: {dict(tally.states)}", flush=True)
    for line in tally.unapplied[:10]:
        print(f"soak:   not applied: {line}", flush=True)
    print(
        f"soak: {tally.declares} declares ({confirmed} confirmed), {tally.clicks} clicks, "
        f"{tally.alerts_sent} alert groups ({sum(s == 200 for s in tally.alerts_accepted.values())}"
        f" accepted), {len(tally.approvals)} approvals double-clicked ({tally.applied} applied, "
        "once), "
        f"{tally.kills} replicas killed ({tally.restarts_refused} restarts exited and were "
        f"retried), failover {tally.failover_s:.1f} s",
        flush=True,
    )
    ticks = tally.ticks
    print(
        f"soak: {ticks.posted} checklists posted, {ticks.clicks} tick clicks ({ticks.repeats} "
        f"second clicks), {ticks.answered} items answered ({ticks.told_recorded} told "
        f"recorded, {ticks.told_already} told already answered)",
        flush=True,
    )
    check(not problems, "; ".join(problems[:20]))
    ran = confirmed > 0 and tally.applied > 0 and tally.kills > 0 and tally.failover_s > 0
    check(ran, "the soak did not run: nothing confirmed, applied, killed or failed over")
    check(ticks.answered > 0 or not ticked, "the soak ran minutes and nothing was ticked")
    print("soak: 0 lost, 0 duplicated, every card and checklist consistent with Redis")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds")
    add_smoke_flag(parser)
    args = parser.parse_args()
    minutes = 0.4 if args.smoke else args.minutes
    kill_every = 10.0 if args.smoke else args.kill_every
    asyncio.run(soak(minutes, kill_every, args.smoke))


if __name__ == "__main__":
    main()
