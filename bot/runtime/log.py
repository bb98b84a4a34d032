"""Logging set-up that keeps secrets out of every log line.

slack_sdk logs whole requests at DEBUG (headers included, so `Authorization: Bearer xoxb-…`,
and bodies, so every title and note a person typed), Bolt logs the requests it receives, and
an exception message can carry a URL with a password. Every record passes through
`RedactSecrets` before any handler writes it: the whole of `bot.runtime.redaction` (tokens,
keys, credentials in URLs, headers and `key=value` pairs) plus the configured secret values
themselves. A record longer than `MAX_LOGGED` characters is cut first: nothing useful is that
long, and redaction runs wherever the record was logged, the event loop included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.runtime.redaction import REDACTED, redact

__all__ = ["MAX_LOGGED", "REDACTED", "RedactSecrets", "configure", "redact"]

MAX_LOGGED = 64 * 1024
# Read past the cut, so a secret that straddles it is still whole when it is redacted.
_MARGIN = 8 * 1024


def _bounded(text: str, secrets: Iterable[str]) -> str:
    """`text` redacted, cut to `MAX_LOGGED` characters with a note of what was left out."""
    if len(text) <= MAX_LOGGED:
        return redact(text, secrets)
    head = redact(text[: MAX_LOGGED + _MARGIN], secrets)[:MAX_LOGGED]
    return f"{head} … [{len(text) - MAX_LOGGED} more characters not logged]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = _bounded(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = _bounded(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = _bounded(record.stack_info, self.secrets)
        return True


def configure(level: str, secrets: Iterable[str]) -> None:
    """Root logging for `fireline serve`: one stream handler, every record redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk tells each retry and Socket Mode reconnection at INFO; Fireline says what
    # matters itself (Slack out of reach, answering again). The details stay for DEBUG.
    logging.getLogger("slack_sdk").setLevel(max(logging.getLevelName(level), logging.WARNING))
