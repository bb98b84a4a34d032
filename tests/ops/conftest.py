"""Bots wired to the Slack double and real Redis, for the operations tests (metrics, alerts on
the bot itself, self-health, the alert heartbeat)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bot.app import Fireline
from tests.harness import Builder, Harness

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def bots(build: Callable[..., Builder]) -> Callable[..., Awaitable[Harness]]:
    """Start bots on one workspace (alice in #war-room, #incidents and #alerts): the first
    call starts the build, later ones replicas beside it (on the same key prefix unless
    `redis_prefix` says otherwise); the `build` fixture stops them all after the test."""
    builder = (
        build()
        .people("alice")
        .channel("room", "war-room", also=("war_room",))
        .channel("broadcast", "incidents")
        .channel("alerts")
    )
    first: list[Harness] = []

    async def start(**overrides: Any) -> Harness:
        if "prefix" in overrides:
            overrides["redis_prefix"] = overrides.pop("prefix")
        where = overrides.pop("broadcast", None)
        if where is not None:
            overrides["broadcast_channel"] = where
        if not first:
            if where is not None:
                builder.ids["broadcast"] = where
            builder.settings(**overrides)
            harness = await builder.start()
            first.append(harness)
        else:
            harness = await first[0].replica(**overrides)
        harness.app.metrics.min_refresh_s = 0  # every scrape reads Redis again: tests look twice
        return harness

    return start


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
