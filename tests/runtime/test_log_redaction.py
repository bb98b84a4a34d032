"""The log set-up redacts every record: what slack_sdk and Bolt log at DEBUG (whole requests,
so every title and note a person types), arguments, tracebacks; and a huge record is cut
before it is redacted, since the filter runs on whatever thread logged it."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bot.runtime.log import MAX_LOGGED, RedactSecrets
from bot.sandbox.doubles.slack import SlackDouble
from tests.harness import SIGNING_SECRET, Builder
from tests.runtime.test_redaction import SECRETS, leaks


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets(["configured-secret-value"]))
    log = logging.getLogger("fireline.test.log_redaction")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log, out
    log.removeHandler(handler)


def test_every_corpus_secret_is_gone_from_messages_arguments_and_tracebacks(captured) -> None:
    log, out = captured
    for entry in SECRETS:
        out.seek(0)
        out.truncate()
        log.debug("request body: %s", entry.text)
        try:
            raise RuntimeError(entry.text)
        except RuntimeError:
            log.exception("failed")
        logged = out.getvalue()
        assert "request body:" in logged and "RuntimeError" in logged
        assert not leaks(entry.secrets, logged, entry.text), entry.kind


def test_configured_secret_values_are_removed(captured) -> None:
    log, out = captured
    log.info("signing with %s", "configured-secret-value")
    assert "configured-secret-value" not in out.getvalue()


def test_a_huge_record_is_cut_then_redacted_even_across_the_cut(captured) -> None:
    log, out = captured
    # A secret straddling the cut, then a megabyte of what a quadratic pattern choked on.
    message = "x" * (MAX_LOGGED - 10) + " AKIAIOSFODNN7EXAMPLE " + "a." * 500_000
    log.warning(message)
    logged = out.getvalue()
    assert len(logged) < MAX_LOGGED + 100
    assert "more characters not logged]" in logged
    assert "AKIAIOSFO" not in logged


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(signing_secret=SIGNING_SECRET) as double:
        yield double


async def test_what_a_person_types_is_not_logged_at_debug_unredacted(
    build: Callable[..., Builder],
) -> None:
    """Issue 13, finding 8: titles and notes were echoed into the DEBUG log by slack_sdk (the
    request bodies of chat.postMessage, conversations.setTopic, the timeline sent back) and
    Bolt (its answers). The filter now redacts them like everything else."""
    builder = build().people("alice").channel("room", "war-room")
    builder.channel("broadcast", "incidents", bot_member=False)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    # As `fireline serve` does: DEBUG before the app exists (Bolt copies the root's level).
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # slack_sdk's own level is whatever the last in-process `configure` left (DEBUG here).
    sdk = logging.getLogger("slack_sdk")
    sdk_level = sdk.level
    sdk.setLevel(logging.DEBUG)
    h = await builder.start()
    alice = h.alice
    handler.addFilter(RedactSecrets(h.app.settings.secret_values()))
    try:
        incident, channel = await h.declare(
            alice, "P1 Checkout down password=hunter2 key AKIAIOSFODNN7EXAMPLE"
        )
        await h.command(
            alice, "note db is postgres://app:p@ss/w0rd@db:5432/orders token ghp_" + "F" * 36,
            channel,
        )  # fmt: skip
        await h.command(alice, "note Authorization: Basic ZmFrZXVzZXI6ZmFrZXBhc3N3b3Jk", channel)
        await h.command(alice, "timeline", channel)  # the notes go back out through slack_sdk
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        sdk.setLevel(sdk_level)
        await h.close()
    logged = out.getvalue()
    # The typed text was logged (so the check below means something) …
    assert "Checkout down" in logged and "db is postgres://app:" in logged
    # … without any of its secrets.
    for secret in ("hunter2", "AKIAIOSFODNN7EXAMPLE", "p@ss/w0rd", "ghp_FFFF", "ZmFrZXVzZXI6"):
        assert secret not in logged, secret
    assert h.slack.bot_token not in logged and SIGNING_SECRET not in logged
    assert incident.startswith("INC-")
