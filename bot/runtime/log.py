"""Logging set-up that keeps secrets out of every log line, as text or as JSON.

slack_sdk logs whole requests at DEBUG (headers included, so `Authorization: Bearer xoxb-…`,
and bodies, so every title and note a person typed), Bolt logs the requests it receives, and
an exception message can carry a URL with a password. Every record passes through
`RedactSecrets` before any handler writes it: the whole of `bot.runtime.redaction` (tokens,
keys, credentials in URLs, headers and `key=value` pairs) plus the configured secret values
themselves, over the message, the traceback and every extra field a JSON line would carry. A
record longer than `MAX_LOGGED` characters is cut first: nothing useful is that long, and
redaction runs wherever the record was logged, the event loop included.

`FIRELINE_LOG_FORMAT=json` writes one JSON object per line (`JsonFormatter`: `ts`, `level`,
`logger`, `message`, the record's extras, `exception`), with the standard library alone: the
format is twenty lines, and a dependency would not make them shorter or safer.

A message that is data (`bot.logdata.Structured`, an audit record) is one JSON object in the
text format too, so a text log still carries it as one parseable JSON line; the JSON format
nests it as an object. Its fields are redacted one by one, before either format writes them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from bot.logdata import AUDIT_LOGGER, Structured
from bot.runtime.redaction import REDACTED, redact

__all__ = [
    "MAX_LOGGED",
    "REDACTED",
    "JsonFormatter",
    "RedactSecrets",
    "Structured",
    "configure",
    "formatter",
    "redact",
]

MAX_LOGGED = 64 * 1024
# Read past the cut, so a secret that straddles it is still whole when it is redacted.
_MARGIN = 8 * 1024
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record was passed as `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _bounded(text: str, secrets: Iterable[str]) -> str:
    """`text` redacted, cut to `MAX_LOGGED` characters with a note of what was left out."""
    if len(text) <= MAX_LOGGED:
        return redact(text, secrets)
    head = redact(text[: MAX_LOGGED + _MARGIN], secrets)[:MAX_LOGGED]
    return f"{head} … [{len(text) - MAX_LOGGED} more characters not logged]"


def _clean(value: Any, secrets: list[str]) -> Any:
    """Every string inside `value` (dicts and lists followed) redacted."""
    if isinstance(value, str):
        return _bounded(value, secrets)
    if isinstance(value, Mapping):
        return {k: _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, secrets) for v in value]
    return value


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Structured) and not record.args:
            msg = record.msg
            record.msg = Structured(
                msg.key, _bounded(msg.title, self.secrets), _clean(dict(msg), self.secrets)
            )
        else:
            message = record.getMessage()
            clean = _bounded(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _bounded(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = _bounded(record.stack_info, self.secrets)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str | Mapping | list | tuple):
                setattr(record, name, _clean(value, self.secrets))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601), level, logger, message, the extras,
    `exception` (the traceback as text) and `stack`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        msg = record.msg
        if isinstance(msg, Structured) and not record.args:
            out["message"] = msg.title
            out[msg.key] = dict(msg)
        else:
            out["message"] = record.getMessage()
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in out:
                out[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for `FIRELINE_LOG_FORMAT` (`text` or `json`)."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {fmt!r}: text or json")


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A crash's traceback as one log record (one JSON line), not as raw lines on stderr."""
    logging.getLogger("fireline").critical("stopped by an uncaught error", exc_info=(kind, exc, tb))


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it could not parse (a 20 KB header, 500 headers, a broken request
    line) at ERROR with a traceback, though it answers 400 and nothing is wrong with Fireline:
    anyone who can reach the port could fill the log with them. Such a record becomes one
    WARNING line naming the refusal; real server errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        code = getattr(exc, "code", None)
        if (
            exc is not None
            and type(exc).__module__.startswith("aiohttp.http_exceptions")
            and isinstance(code, int)
            and 400 <= code < 500
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (
                "refused a malformed HTTP request (%d): %s",
                (
                    code,
                    type(exc).__name__,
                ),
            )
            record.exc_info, record.exc_text = None, None
        return True


def quiet_malformed_requests() -> None:
    """Install `MalformedRequests` on aiohttp's server logger (once)."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())


def configure(level: str, secrets: Iterable[str], fmt: str = "text") -> None:
    """Root logging for `fireline serve`: one stream handler, every record redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings as log records (so JSON, and redacted)
    quiet_malformed_requests()
    if fmt == "json":
        sys.excepthook = _log_uncaught
    # The audit trail is logged whatever the level: a team's log pipeline is where it is kept.
    logging.getLogger(AUDIT_LOGGER).setLevel(logging.INFO)
    # slack_sdk tells each retry and Socket Mode reconnection at INFO; Fireline says what
    # matters itself (Slack out of reach, answering again). The details stay for DEBUG.
    number = logging.getLevelName(level)
    logging.getLogger("slack_sdk").setLevel(
        number if number <= logging.DEBUG else max(number, logging.WARNING)
    )
