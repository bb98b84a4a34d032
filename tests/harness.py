"""The one way tests assemble a running Fireline, and what they drive it with.

A test describes the bot it needs with a `Builder` (the `build` fixture gives one on the Slack
double, the test Redis and the test's key prefix): the people and channels of the double's
workspace, and the optional pieces — a simulated cluster, a clock, a policy, playbooks, other
`Deps` and settings. `start()` runs it:

    h = await build().people("alice", "bob").channel("room", "war-room").start()
    await h.command(h.alice, "declare P1 Checkout down")

Bots are built by `bot.sandbox.wiring.Wiring`, which the sandbox runs the product with too, so
tests meet Fireline composed exactly as `fireline sandbox` composes it. `Harness` is what a test
drives: people type commands and click in the double, which delivers signed requests to the
bot's `/slack/events` as Slack does; assertions read what the workspace shows (channels,
messages, pins, files, ephemerals). Replicas and restarts are further bots on the same build
(`await h.start(instance_name="replica-b")`).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.app import Deps, Fireline
from bot.app.deps import named_namespaces
from bot.clock import Clock, SystemClock
from bot.playbooks.models import Playbooks
from bot.policy.models import Policy
from bot.sandbox.doubles.kubernetes import Cluster, KubernetesDouble
from bot.sandbox.doubles.slack import SlackDouble
from bot.sandbox.wiring import Wiring
from bot.settings import Settings
from bot.store.server import RedisHandle
from tests.clock import ManualClock

T = TypeVar("T")
SIGNING_SECRET = "e2e-signing-secret"
WEBHOOK_TOKEN = "e2e-webhook-token-0123456789"
NO_PLAYBOOKS = Playbooks({})
DEPS_FIELDS = frozenset(f.name for f in dataclasses.fields(Deps))
BROADCAST, ALERTS = "broadcast", "alerts"
"""Channel names a build gives meaning to: the bot's broadcast and alerts channels (and `room`
is where `Harness.command()` types unless told otherwise)."""


async def eventually(
    check: Callable[[], T | Literal[False] | None], limit_s: float = 5.0, what: str = ""
) -> T:
    """Poll `check` until it returns something truthy (the bot works after its ack)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


def flatten(value: Any) -> str:
    """Every text a message's blocks show, in one string (types and action IDs left out)."""
    if isinstance(value, dict):
        return " ".join(flatten(v) for k, v in value.items() if k not in {"type", "action_id"})
    if isinstance(value, list):
        return " ".join(flatten(v) for v in value)
    return str(value)


async def post_signed(url: str, form: dict[str, str], *, timestamp: int | None = None) -> int:
    """POST a form to the bot signed with the test signing secret, as Slack signs it."""
    body = urlencode(form)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


def settings_for(slack: SlackDouble, broadcast: str, **overrides: Any) -> Settings:
    """Settings for a bot on the Slack double: no `.env`, loopback, any free port, and Redis
    as the test gives it (`Deps.redis`; unset means an embedded one under `data_dir`)."""
    values: dict[str, Any] = {
        **Wiring(slack).settings(),
        "http_port": 0,
        "broadcast_channel": broadcast,
        "redis_url": None,
        # The double these tests use by default does not rate-limit; tests of the limits pass
        # the double's scale (tests/alerts/test_outbox.py).
        "slack_rate_scale": 20.0,
        # A bot stopped at a test's end with something stuck (Redis cut, a write hung) waits
        # its whole grace; tests of the drain set their own (tests/app/test_shutdown.py).
        "shutdown_grace_s": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def settle_all(*apps: Fireline) -> None:
    for app in apps:
        assert await app.drain(10.0)


class Builder:
    """What a test needs running; each method returns the builder, `start()` runs the bot."""

    def __init__(self, slack: SlackDouble, redis: RedisHandle | None, prefix: str) -> None:
        self.slack = slack
        self.redis = redis
        self.prefix = prefix
        self.wiring = Wiring(slack)
        self.ids: dict[str, str] = {}
        """Name in the test (`h.alice`, `h.room`) → Slack ID, for people and channels."""
        self._people: list[str] = []
        self._settings: dict[str, Any] = {"webhook_token": WEBHOOK_TOKEN}
        self.deps_fields: dict[str, Any] = {"playbooks": NO_PLAYBOOKS}
        """The `Deps` every bot of this build gets (`Deps.redis` aside)."""
        self._clusters: list[tuple[str, Cluster, dict[str, Any]]] = []
        self.waits_for_jobs = False

    # -- the workspace -------------------------------------------------------------------------
    def people(self, *names: str, **named: str) -> Builder:
        """People in the workspace: `people("alice")` is @alice, seen as `h.alice`;
        `people(oncall="olive")` is @olive, seen as `h.oncall`."""
        for key, handle in [*((n, n) for n in names), *named.items()]:
            self.ids[key] = self.slack.add_user(handle)
            self._people.append(key)
        return self

    def channel(
        self,
        key: str,
        name: str | None = None,
        *,
        members: Iterable[str] | None = None,
        bot_member: bool = True,
        also: Iterable[str] = (),
    ) -> Builder:
        """A channel seen as `h.<key>` (and as each name in `also`), named `name` (default: the
        key), with everyone added so far (or the people `members` names) in it. `broadcast` and
        `alerts` are the bot's broadcast and alerts channels; `room` is where `command()` types
        by default."""
        who = [self.ids[m] for m in (self._people if members is None else members)]
        channel = self.slack.add_channel(name or key, members=who, bot_member=bot_member)
        for each in (key, *also):
            self.ids[each] = channel
        return self

    def usergroup(self, key: str, handle: str, members: Iterable[str]) -> Builder:
        """A user group (`@handle`) of the people `members` names, its ID seen as `h.<key>`."""
        self.ids[key] = self.slack.add_usergroup(handle, [self.ids[m] for m in members])
        return self

    # -- the optional pieces -------------------------------------------------------------------
    def kubernetes(
        self,
        cluster: Cluster,
        *,
        name: str = "test",
        on_serve: Callable[[dict[str, Any]], None] | None = None,
        reconcile_interval: float | None = None,
    ) -> Builder:
        """Serve `cluster` (a Kubernetes double over real HTTP) as the policy's cluster `name`."""
        options = {"on_serve": on_serve, "reconcile_interval": reconcile_interval}
        self._clusters.append((name, cluster, options))
        return self

    def clock(self, clock: Clock) -> Builder:
        """The bot's clock (a `ManualClock` moves only when the test says)."""
        return self.deps(clock=clock)

    def policy(self, policy: Policy) -> Builder:
        return self.deps(policy=policy)

    def playbooks(self, playbooks: Playbooks | None) -> Builder:
        """Playbooks to load; None: those `FIRELINE_PLAYBOOKS_DIR` names (the shipped ones).
        Off unless given: their runs would interleave with what a test counts."""
        return self.deps(playbooks=playbooks)

    def deps(self, **fields: Any) -> Builder:
        """Any other `Deps` field (`kube_timeout_s=1.0`, `remediation_poll_s=0.02`, ...)."""
        unknown = set(fields) - DEPS_FIELDS
        assert not unknown, f"not Deps fields: {sorted(unknown)}"
        self.deps_fields.update(fields)
        return self

    def settings(self, **overrides: Any) -> Builder:
        """Settings fields over the test defaults (`settings_for`)."""
        self._settings.update(overrides)
        return self

    def wait_for_jobs(self) -> Builder:
        """After each command or click, also wait for the jobs due by the clock to run (for
        tests on a `ManualClock` whose commands schedule work)."""
        self.waits_for_jobs = True
        return self

    # -- running -------------------------------------------------------------------------------
    async def start(self) -> Harness:
        """Serve the clusters, then start the first bot; the harness drives it."""
        if BROADCAST not in self.ids:
            self.channel(BROADCAST, "incidents", members=())
        for name, cluster, options in self._clusters:
            await self.wiring.simulate(name, cluster, **options)
        harness = Harness(self)
        await harness.start()
        return harness

    async def bot(self, **changes: Any) -> Fireline:
        """Start a bot of this build, with settings or `Deps` fields changed."""
        deps = {**self.deps_fields, **{k: v for k, v in changes.items() if k in DEPS_FIELDS}}
        settings = {
            "redis_prefix": self.prefix,
            **({"alerts_channel": self.ids[ALERTS]} if ALERTS in self.ids else {}),
            **self._settings,
            **{k: v for k, v in changes.items() if k not in DEPS_FIELDS},
        }
        return await self.wiring.start(
            settings_for(self.slack, self.ids[BROADCAST], **settings),
            Deps(redis=self.redis, **deps),
        )

    async def close(self) -> None:
        await self.wiring.close()


class Harness:
    """A running Fireline (one bot, or several on one build) and the doubles it talks to."""

    def __init__(self, build: Builder) -> None:
        self.build = build
        self.slack = build.slack
        self.ids = build.ids
        self._app: Fireline | None = None
        """The bot this harness drives."""

    def __getattr__(self, name: str) -> str:
        """People and channels by the names the build gave them: `h.alice`, `h.room`."""
        ids = self.__dict__.get("ids") or {}
        if name in ids:
            return str(ids[name])
        raise AttributeError(f"{type(self).__name__} has no attribute or person/channel {name!r}")

    # -- the bots --------------------------------------------------------------------------------
    @property
    def app(self) -> Fireline:
        assert self._app is not None, "no bot started"
        return self._app

    @property
    def apps(self) -> list[Fireline]:
        return self.build.wiring.apps

    @property
    def clock(self) -> Clock:
        clock: Clock = self.build.deps_fields.get("clock") or SystemClock()
        return clock

    @property
    def manual_clock(self) -> ManualClock:
        """The bot's clock, for a test that built the harness on a `ManualClock` and moves it."""
        clock = self.clock
        assert isinstance(clock, ManualClock), "the harness runs on the system clock"
        return clock

    @property
    def kube(self) -> KubernetesDouble:
        """The (first) simulated cluster."""
        return next(iter(self.build.wiring.clusters.values()))

    async def kube_settled(self) -> None:
        """Until the bot's start-up pod watches (bot/gateways/pod_watch.py) have asked the first
        cluster what they ask, a list and a watch each: a test that counts what reaches the
        cluster then counts only what it caused."""
        policy = self.app.kube.policy
        name, cluster = next(iter(policy.clusters.items()))
        named = set(named_namespaces(cluster))

        def watched() -> set[str]:
            return {r.path.split("/")[4] for r in self.kube.requests.find("watch", "/pods$")}

        await eventually(lambda: named <= watched(), 10, f"the pod watches of {name}")

    async def start(self, **changes: Any) -> Fireline:
        """Start a bot of this build (a restart after `stop()`), with settings or `Deps` fields
        changed; this harness drives it, and the Slack double delivers to it, from now on."""
        self._app = await self.build.bot(**changes)
        return self._app

    async def replica(self, **changes: Any) -> Harness:
        """Another bot of this build beside this one (`instance_name="replica-b"`): a harness
        driving it; the Slack double delivers to it from now on."""
        return self.on(await self.build.bot(**changes))

    async def stop(self, app: Fireline | None = None, *, grace_s: float | None = None) -> None:
        """Stop one bot (default: the one this harness drives), as a deploy would: what is in
        flight gets the shutdown grace; `grace_s=0` waits for nothing, as near a crash as a
        stop gets."""
        await self.build.wiring.stop(app or self.app, grace_s)

    async def close(self) -> None:
        """Stop every bot and the simulated clusters (the `build` fixture does it after each
        test; a test whose Slack double ends first calls it itself)."""
        await self.build.close()

    def on(self, app: Fireline) -> Harness:
        """This harness driving another of its bots (a replica)."""
        view = copy.copy(self)
        view._app = app
        return view

    # -- waiting -------------------------------------------------------------------------------
    async def settle(self, limit_s: float = 10.0) -> None:
        """Wait until the bot has finished the work it did after acking (no sleeping), and
        with `wait_for_jobs()` the jobs due by now too."""
        if self.build.waits_for_jobs:
            await self.idle(limit_s)
        else:
            assert await self.app.drain(limit_s), f"the bot did not finish its work in {limit_s} s"

    async def idle(self, limit_s: float = 10.0) -> None:
        """Wait until every job due by the clock has run and the bot has finished its work."""
        store, app = self.app.services.store, self.app
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            await asyncio.sleep(0.005)
            assert await app.drain(limit_s), f"the bot did not finish its work in {limit_s} s"
            due = await store.redis.zrangebyscore(
                store.keys.jobs_due, "-inf", self.clock.now().timestamp()
            )
            leased = await store.redis.zcard(store.keys.jobs_leased)
            if not due and not leased and not app.scheduler.busy:
                return
            assert loop.time() < deadline, (
                f"the bot did not become idle: due {due}, leased {leased}, "
                f"scheduler busy {app.scheduler.busy}"
            )

    async def alerts_done(self, limit_s: float = 10.0) -> None:
        """Wait until every accepted notification has been shown in Slack (inbox and outbox)."""
        store = self.app.services.alerts.alerts
        deadline = asyncio.get_running_loop().time() + limit_s
        while await store.backlog() or await self.app.outbox.waiting():
            assert asyncio.get_running_loop().time() < deadline, "alert inbox not drained"
            await asyncio.sleep(0.02)
        await self.settle()

    # -- acting as people and as Alertmanager ----------------------------------------------------
    async def command(
        self, user: str, text: str, channel: str | None = None, *, limit_s: float = 10.0
    ) -> Any:
        """Type `/incident <text>`; returns Slack's view of the ack once the bot is idle again
        (within `limit_s`)."""
        response = await self.slack.slash_command(user, channel or self.room, text)
        await self.settle(limit_s)
        return response

    async def declare(self, user: str, text: str) -> tuple[str, str]:
        """Declare and wait for the channel; returns (incident ID, channel ID)."""
        before = len(self.ephemeral_texts(user))
        await self.command(user, f"declare {text}")
        told = await eventually(
            lambda: next(
                (t for t in self.ephemeral_texts(user)[before:] if " declared as " in t), None
            ),
            what=f"declaration of {text!r}; shown: {self.ephemeral_texts(user)}",
        )
        incident_id = told.split(" ")[0]
        channel = (await self.app.services.store.get(incident_id)).channel_id
        assert channel is not None
        await eventually(lambda: incident_id in self.card(channel)["text"])
        return incident_id, channel

    async def webhook(
        self, body: bytes | Mapping[str, Any], token: str | None = WEBHOOK_TOKEN
    ) -> tuple[int, Any]:
        """POST an Alertmanager notification to the bot, as Alertmanager does; returns the
        status and the JSON answer."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.app.url}/webhooks/alertmanager", data=data, headers=headers
            ) as response,
        ):
            return response.status, await response.json()

    # -- what Slack shows ------------------------------------------------------------------------
    def ephemeral_texts(self, user: str) -> list[str]:
        """Everything `user` has been shown privately, each message's text and blocks."""
        return [
            " ".join([e.text or "", flatten(e.blocks or [])])
            for e in self.slack.ephemerals(user_id=user)
        ]

    async def told(self, user: str, fragment: str, limit_s: float = 10.0) -> str:
        """Wait until `user` has been shown an ephemeral message containing `fragment`."""
        return await eventually(
            lambda: next((t for t in self.ephemeral_texts(user) if fragment in t), None),
            limit_s,
            f"{fragment!r} shown to {user}; shown: {self.ephemeral_texts(user)}",
        )

    def alert_parents(self) -> list[dict[str, Any]]:
        return self.slack.messages(self.alerts)

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies in a message's thread (the message itself left out)."""
        return self.slack.thread(channel, ts)[1:]

    def channel_named(self, prefix: str) -> dict[str, Any] | None:
        for channel in self.slack.ws.channels.values():
            if channel.name.startswith(prefix):
                return self.slack.channel(channel.id)
        return None

    def card(self, channel_id: str) -> dict[str, Any]:
        """The pinned summary card in an incident channel (the first message the bot posted)."""
        messages = self.slack.messages(channel_id)
        bot_messages = [
            m
            for m in messages
            if m.get("user") == self.slack.bot_user_id or m.get("bot_id") == self.slack.bot_id
        ]
        return bot_messages[0]

    def card_text(self, channel_id: str) -> str:
        """Everything the card shows, flattened."""
        return flatten(self.card(channel_id).get("blocks") or [])
