"""Secrets never reach the logs, even at DEBUG where slack_sdk logs whole requests."""

from __future__ import annotations

import io
import logging

from bot.runtime.log import RedactSecrets, redact
from tests.harness import SIGNING_SECRET, Harness


def test_redact_known_shapes() -> None:
    line = (
        "headers={'Authorization': 'Bearer xoxb-123-456-abcdef'} app=xapp-1-A1-99-ff "
        "url=redis://:hunter2@db:6379/0 pg=postgresql://app:s3cr3t@pg/db sig=verysecretvalue"
    )
    clean = redact(line, ["verysecretvalue"])
    for secret in ("xoxb-123", "xapp-1", "hunter2", "s3cr3t", "verysecretvalue"):
        assert secret not in clean
    assert "redis://:[redacted]@db:6379/0" in clean and "Bearer [redacted]" in clean


def test_filter_redacts_messages_arguments_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets(["my-signing-secret"]))
    log = logging.getLogger("fireline.test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("token %s and secret %s", "xoxb-1-2-zzz", "my-signing-secret")
        try:
            raise ConnectionError("redis://:pa55word@10.0.0.9:6379 refused")
        except ConnectionError:
            log.exception("lost Redis")
    finally:
        log.removeHandler(handler)
    logged = out.getvalue()
    assert "lost Redis" in logged and "ConnectionError" in logged
    for secret in ("xoxb-1-2-zzz", "my-signing-secret", "pa55word"):
        assert secret not in logged


async def test_debug_logs_of_a_declare_carry_no_secret(harness: Harness) -> None:
    """slack_sdk logs whole requests at DEBUG; none of it may show a token or secret."""
    h = harness
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(RedactSecrets(h.app.settings.secret_values()))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        await h.declare(h.alice, "P1 Checkout down")
        h.slack.fail_next("chat.update", error="invalid_auth")
        await h.command(h.alice, "ack INC-1")
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    logged = out.getvalue()
    assert "slack_sdk" in logged and "Authorization" in logged  # the risky lines were logged
    assert h.slack.bot_token not in logged and SIGNING_SECRET not in logged
    assert "xoxb-" not in logged
