"""Secrets removed from anything a diagnostic is about to post (logs, queries, events).

Applied to every line before it is grouped, counted, or posted: bearer tokens, passwords in
URLs, API keys and tokens in `key=value` / JSON form, well-known key shapes (AWS, GitHub,
Slack, JWTs) and PEM private keys. Over-redacting a harmless value is acceptable; posting a
secret into a channel is not.
"""

from __future__ import annotations

import re

from bot.runtime.log import redact as redact_log_secrets

REDACTED = "[redacted]"

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
)
# A line that is only base64 of PEM-body length: a key whose BEGIN line fell outside the tail.
_PEM_BODY = re.compile(r"(?m)^[A-Za-z0-9+/]{40,}={0,2}$")
_KEY_VALUE = re.compile(
    r"""(?ix)
    (["']?\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|
      auth|credential|private[_-]?key|session[_-]?id)[\w.-]*["']?\s*[:=]\s*)
    (?:"[^"]*"|'[^']*'|[^\s,;&}]+)
    """
)
_SHAPES = (
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ID
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"),  # sk- style API keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
)


def redact(text: str) -> str:
    text = _PEM.sub(f"{REDACTED} (private key)", text)
    text = _PEM_BODY.sub(REDACTED, text)
    text = redact_log_secrets(text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    for shape in _SHAPES:
        text = shape.sub(REDACTED, text)
    return text
