"""The audit trail: every record one JSON line on the `fireline.audit` logger (secrets
redacted, written even when Redis is down), and the Redis stream a window by time (MINID)
with a length bound that says so when it cuts into the window. Real Redis: the server and
the embedded 6.2."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.errors import Unavailable
from bot.logdata import AUDIT_LOGGER
from bot.runtime.log import RedactSecrets, formatter
from bot.store.store import Store
from tests.ports import free_port

RECORD = {
    "at": "2026-11-30T10:00:00+00:00",
    "user": "U0APOLLO",
    "action": "restart",
    "target": "orion-prod/deployment/task-service",
    "outcome": "approved",
    "duration_ms": "0",
    "incident": "INC-7",
    "detail": "",
}


@contextmanager
def logged(fmt: str, secrets: tuple[str, ...] = ()) -> Iterator[io.StringIO]:
    """What `fireline serve`'s handler writes (format, redaction), captured; the audit logger
    at INFO as `bot.runtime.log.configure` sets it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactSecrets(secrets))
    root, audit = logging.getLogger(), logging.getLogger(AUDIT_LOGGER)
    level = audit.level
    root.addHandler(handler)
    audit.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        audit.setLevel(level)


def audit_lines(out: io.StringIO, fmt: str) -> list[dict[str, Any]]:
    """The audit records in the captured output, as the log pipeline would read them."""
    found = []
    for line in out.getvalue().splitlines():
        if fmt == "json":
            doc = json.loads(line)
            if doc["logger"] == AUDIT_LOGGER:
                found.append(doc["audit"])
        elif f" {AUDIT_LOGGER}: " in line:
            found.append(json.loads(line.split(f" {AUDIT_LOGGER}: ", 1)[1]))
    return found


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_every_record_is_one_json_line_with_the_stream_id(store: Store, fmt: str) -> None:
    with logged(fmt) as out:
        entry_id = await store.audit(RECORD)
    [line] = audit_lines(out, fmt)
    assert line["actor"] == "U0APOLLO" and "user" not in line
    assert (line["action"], line["target"], line["outcome"]) == (
        "restart",
        "orion-prod/deployment/task-service",
        "approved",
    )
    assert line["stream_id"] == entry_id and line["incident"] == "INC-7"


async def test_secrets_in_a_record_are_redacted_and_the_line_stays_json(store: Store) -> None:
    record = {
        **RECORD,
        "detail": 'failed: redis://:hunter2hunter2@10.0.0.5:6379 "token": "xoxb-1-2-abcdef"',
    }
    for fmt in ("text", "json"):
        with logged(fmt, secrets=("my-signing-secret",)) as out:
            await store.audit({**record, "target": "my-signing-secret"})
        [line] = audit_lines(out, fmt)
        for secret in ("hunter2hunter2", "xoxb-1-2-abcdef", "my-signing-secret"):
            assert secret not in out.getvalue()
        assert "[redacted]" in line["detail"] and line["outcome"] == "approved"


async def test_the_record_is_logged_even_when_redis_is_down() -> None:
    port = free_port()  # a loopback port nothing listens on (nor will: tests/ports.py)
    client = Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    try:
        with logged("json") as out, pytest.raises(Unavailable):
            await Store(client, prefix="fltest:down:").audit(RECORD)
    finally:
        await client.aclose()
    [line] = audit_lines(out, "json")
    assert line["outcome"] == "approved" and line["stream_id"] == ""


async def test_the_stream_keeps_a_window_by_time(store: Store) -> None:
    store.audit_window_s = 3600
    redis, key = store.redis, store.keys.audit
    now_ms = int(time.time() * 1000)
    await redis.xadd(key, {"outcome": "two hours old"}, id=f"{now_ms - 7_200_000}-0")
    await redis.xadd(key, {"outcome": "half an hour old"}, id=f"{now_ms - 1_800_000}-0")
    await store.audit(RECORD)
    kept = [r["outcome"] for r in await store.audit_log(10)]
    assert kept == ["approved", "half an hour old"]


async def test_the_length_bound_says_once_when_it_cuts_into_the_window(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.store.audit"):
        for n in range(4):
            await store.audit({**RECORD, "detail": str(n)}, maxlen=2)
    assert [r["detail"] for r in await store.audit_log(10)] == ["3", "2"]
    warned = [r for r in caplog.records if "holds its limit of 2 records" in r.getMessage()]
    assert len(warned) == 1
