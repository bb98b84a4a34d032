"""`FIRELINE_LOG_FORMAT`: `json` makes every log line one JSON object (ts, level, logger,
message, the extras, the traceback as a field), still redacted; a wrong value stops the start
naming the setting and what it may be. The bot itself is run as a process for the JSON one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.runtime.log import RedactSecrets, formatter
from bot.sandbox.doubles.slack import SlackDouble
from bot.settings import load_settings
from tests.conftest import REDIS_URL
from tests.fireline_process import Fireline, fireline_env, get

SLACK = {"SLACK_BOT_TOKEN": "xoxb-1-2-abcdef", "SLACK_SIGNING_SECRET": "0123456789abcdef"}


def one_record(fmt: str, emit: object) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactSecrets(["my-signing-secret"]))
    log = logging.getLogger("fireline.test.format")
    log.addHandler(handler)
    log.propagate = False
    try:
        assert callable(emit)
        emit(log)
    finally:
        log.removeHandler(handler)
    return out.getvalue()


def test_a_json_line_carries_level_logger_message_extras_and_the_traceback() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ConnectionError("redis://:pa55word1@10.0.0.9:6379 refused")
        except ConnectionError:
            log.error(
                "lost %s with my-signing-secret",
                "Redis",
                exc_info=True,
                extra={"component": "outbox", "url": "postgresql://app:s3cr3tpw@pg/db"},
            )

    text = one_record("json", emit)
    [line] = text.splitlines()
    doc = json.loads(line)
    assert doc["level"] == "ERROR" and doc["logger"] == "fireline.test.format"
    assert doc["message"] == "lost Redis with [redacted]"
    assert doc["component"] == "outbox" and doc["ts"].endswith("+00:00")
    assert "ConnectionError" in doc["exception"] and "Traceback" in doc["exception"]
    for secret in ("pa55word1", "s3cr3tpw", "my-signing-secret"):
        assert secret not in text


def test_text_stays_the_default_line() -> None:
    text = one_record("text", lambda log: log.warning("plain %d", 1))
    assert text.rstrip().endswith("WARNING fireline.test.format: plain 1")
    assert load_settings(**SLACK).log_format == "text"


def test_a_wrong_format_stops_the_start_naming_the_setting_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(**SLACK, FIRELINE_LOG_FORMAT="xml")
    said = str(raised.value)
    assert "FIRELINE_LOG_FORMAT must be one of text, json (not 'xml')" in said
    assert load_settings(**SLACK, FIRELINE_LOG_FORMAT="JSON").log_format == "json"


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        yield double


@pytest.mark.process
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_bot_as_a_process_logs_only_json_lines(
    tmp_path: Path, slack: SlackDouble, prefix: str, redis_handle: object
) -> None:
    env = fireline_env(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.app.signing_secret,
        SLACK_API_URL=slack.api_url,
        FIRELINE_HTTP_HOST="127.0.0.1",
        FIRELINE_HTTP_PORT="0",
        REDIS_URL=REDIS_URL,
        FIRELINE_REDIS_PREFIX=prefix,
        FIRELINE_LOG_FORMAT="json",
        FIRELINE_LOG_LEVEL="DEBUG",  # slack_sdk's whole requests too: the most to redact
    )
    run = await Fireline(["serve"], cwd=tmp_path, env=env).start()
    try:
        url = await run.url()
        assert (await get(f"{url}/readyz")).status_code == 200
        assert await run.stop() == 0
    finally:
        await run.kill()
    assert len(run.lines) > 5, run.output
    docs = []
    for line in run.lines:
        try:
            docs.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{run.output}")
    for doc in docs:
        assert {"ts", "level", "logger", "message"} <= set(doc), doc
    assert any(d["message"].startswith("Fireline is up on") for d in docs)
    # Libraries' own DEBUG lines go through the same handler: JSON too.
    assert any(d["level"] == "DEBUG" and not d["logger"].startswith("bot.") for d in docs)
    assert slack.bot_token not in run.output
    assert slack.app.signing_secret not in run.output


@pytest.mark.parametrize(("level", "sdk"), [("DEBUG", "DEBUG"), ("INFO", "WARNING")])
def test_slack_sdk_details_show_at_debug_only(level: str, sdk: str) -> None:
    """slack_sdk's retries and reconnections are quiet at INFO (Fireline says what matters);
    at DEBUG its details are what a person debugging wants (redacted like the rest)."""
    from bot.runtime.log import configure

    root, sdk_logger = logging.getLogger(), logging.getLogger("slack_sdk")
    saved = (root.handlers[:], root.level, sdk_logger.level)
    try:
        configure(level, [])
        assert logging.getLevelName(sdk_logger.level) == sdk
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        sdk_logger.setLevel(saved[2])
        logging.captureWarnings(False)
