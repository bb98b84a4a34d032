"""The running bot, wired to the Slack double over real HTTP and to real Redis.

`Harness` is what a test drives: people type commands and click in the double, which delivers
signed requests to the bot's `/slack/events` exactly as Slack would; assertions read what the
double's workspace now shows (channels, messages, pins, files, ephemerals).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.app import Deps, Fireline, create_app
from bot.clock import Clock
from bot.playbooks.models import Playbooks
from bot.sandbox.doubles.slack import SlackDouble
from bot.settings import Settings
from bot.store.server import RedisHandle

T = TypeVar("T")
SIGNING_SECRET = "e2e-signing-secret"
WEBHOOK_TOKEN = "e2e-webhook-token-0123456789"
NO_PLAYBOOKS = Playbooks({})


async def eventually(check: Callable[[], T | None], limit_s: float = 5.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy (the bot works after its ack)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)


async def post_signed(url: str, form: dict[str, str], *, timestamp: int | None = None) -> int:
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


@dataclass
class Harness:
    slack: SlackDouble
    app: Fireline
    alice: str
    bob: str
    carol: str
    war_room: str  # where people type commands
    broadcast: str
    alerts: str = ""  # FIRELINE_ALERTS_CHANNEL

    async def webhook(self, body: bytes, token: str | None = WEBHOOK_TOKEN) -> tuple[int, Any]:
        """POST an Alertmanager notification to the bot, as Alertmanager does."""
        import aiohttp

        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.app.url}/webhooks/alertmanager", data=body, headers=headers
            ) as response,
        ):
            return response.status, await response.json()

    async def alerts_done(self, limit_s: float = 10.0) -> None:
        """Wait until every accepted notification has been shown in Slack (inbox and outbox)."""
        store = self.app.services.alerts.alerts
        deadline = asyncio.get_running_loop().time() + limit_s
        while await store.backlog() or await self.app.outbox.waiting():
            assert asyncio.get_running_loop().time() < deadline, "alert inbox not drained"
            await asyncio.sleep(0.02)
        await self.settle()

    def alert_parents(self) -> list[dict[str, Any]]:
        return self.slack.messages(self.alerts)

    async def command(self, user: str, text: str, channel: str | None = None) -> Any:
        """Type `/incident <text>`; returns Slack's view of the ack once the bot is idle again."""
        response = await self.slack.slash_command(user, channel or self.war_room, text)
        await self.settle()
        return response

    async def settle(self) -> None:
        """Wait until the bot has finished the work it did after acking (no sleeping)."""
        assert await self.app.drain(5.0), "the bot did not finish its work within 5 s"

    def ephemeral_texts(self, user: str) -> list[str]:
        return [
            " ".join([e.text or "", _flatten(e.blocks or [])])
            for e in self.slack.ephemerals(user_id=user)
        ]

    async def told(self, user: str, fragment: str, limit_s: float = 5.0) -> str:
        """Wait until `user` has been shown an ephemeral message containing `fragment`."""
        return await eventually(
            lambda: next((t for t in self.ephemeral_texts(user) if fragment in t), None),
            limit_s,
            f"{fragment!r} shown to {user}; shown: {self.ephemeral_texts(user)}",
        )

    def channel_named(self, prefix: str) -> dict[str, Any] | None:
        for channel in self.slack.ws.channels.values():
            if channel.name.startswith(prefix):
                return self.slack.channel(channel.id)
        return None

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
        incident = await self.app.services.store.get(incident_id)
        assert incident.channel_id is not None
        await eventually(lambda: incident_id in self.card(incident.channel_id)["text"])
        return incident_id, incident.channel_id

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
        return _flatten(self.card(channel_id).get("blocks") or [])


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_flatten(v) for k, v in value.items() if k not in {"type", "action_id"})
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value)
    return str(value)


def settings_for(slack: SlackDouble, broadcast: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.bot_token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "broadcast_channel": broadcast,
        "redis_url": None,
        # The double these tests use by default does not rate-limit; tests of the limits pass
        # the double's scale (tests/alerts/test_outbox.py).
        "slack_rate_scale": 20.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def settle_all(*apps: Fireline) -> None:
    for app in apps:
        assert await app.drain(5.0)


async def start_bot(
    slack: SlackDouble,
    broadcast: str,
    redis: RedisHandle | None,
    prefix: str,
    clock: Clock | None = None,
    playbooks: Playbooks | None = NO_PLAYBOOKS,
    **overrides: Any,
) -> Fireline:
    """Playbooks are off unless given (their runs would interleave with what a test counts)."""
    deps = Deps(redis=redis, playbooks=playbooks)
    if clock is not None:
        deps.clock = clock
    app = create_app(settings_for(slack, broadcast, redis_prefix=prefix, **overrides), deps)
    await app.start()
    slack.request_url = f"{app.url}/slack/events"
    return app
