"""Logging set-up that keeps secrets out of every log line.

slack_sdk logs whole requests at DEBUG (headers included, so `Authorization: Bearer xoxb-…`),
and an exception message can carry a URL with a password. Every record passes through
`RedactSecrets` before any handler writes it: Slack tokens, bearer credentials, passwords in
URLs, and the configured secret values themselves are replaced with `[redacted]`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

PATTERNS = (
    re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),  # Authorization headers
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+(@)"),  # user:password@ in URLs
)
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = PATTERNS[0].sub(REDACTED, text)
    text = PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)
    return PATTERNS[2].sub(lambda m: m.group(1) + REDACTED + m.group(2), text)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def configure(level: str, secrets: Iterable[str]) -> None:
    """Root logging for `fireline serve`: one stream handler, every record redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
