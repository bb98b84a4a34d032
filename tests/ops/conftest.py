"""Bots wired to the Slack double and real Redis, for the operations tests (metrics, alerts on
the bot itself, self-health, the alert heartbeat)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bot.app import Fireline
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.e2e.harness import SIGNING_SECRET, WEBHOOK_TOKEN, Harness, start_bot

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


@pytest.fixture
async def bots(
    slack: SlackDouble, redis_handle: RedisHandle, prefix: str
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """Start bots (replicas when given the same prefix) on one workspace; all stopped after."""
    started: list[Fireline] = []
    alice = slack.add_user("alice")
    war_room = slack.add_channel("war-room", members=[alice])
    broadcast = slack.add_channel("incidents", members=[alice])
    alerts = slack.add_channel("alerts", members=[alice])

    async def start(**overrides: Any) -> Harness:
        overrides.setdefault("alerts_channel", alerts)
        overrides.setdefault("webhook_token", WEBHOOK_TOKEN)
        where = overrides.pop("broadcast", broadcast)
        app = await start_bot(
            slack, where, redis_handle, overrides.pop("prefix", prefix), **overrides
        )
        app.metrics.min_refresh_s = 0  # every scrape reads Redis again: tests look twice
        started.append(app)
        return Harness(slack, app, alice, alice, alice, war_room, where, alerts)

    yield start
    for app in reversed(started):
        await app.stop()


async def scrape(app: Fireline) -> tuple[str, Metrics]:
    """GET /metrics; the text and its samples by (name, sorted labels)."""
    async with aiohttp.ClientSession() as session, session.get(f"{app.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return text, parse(text)


def parse(text: str) -> Metrics:
    samples: Metrics = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: list[tuple[str, str]] = []
        for part in filter(None, rest.rstrip("}").split('",')):
            key, _, val = part.partition("=")
            labels.append((key, val.strip('"')))
        samples[(name, tuple(sorted(labels)))] = float(value)
    return samples


def value(samples: Metrics, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def readyz(app: Fireline) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{app.url}/readyz") as r:
        return r.status, await r.json()


def watchdog_body(status: str = "firing") -> bytes:
    """Alertmanager's always-firing Watchdog, as its webhook sends it (v4)."""
    labels = {"alertname": "Watchdog", "severity": "none"}
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="Watchdog"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "fireline",
            "groupLabels": {"alertname": "Watchdog"},
            "commonLabels": labels,
            "commonAnnotations": {"summary": "The alert pipeline works."},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [
                {
                    "status": status,
                    "labels": labels,
                    "annotations": {"summary": "The alert pipeline works."},
                    "startsAt": "2026-11-23T08:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.example:9090/graph",
                    "fingerprint": "e4d0b3a1c2f5a6b7",
                }
            ],
        }
    ).encode()
