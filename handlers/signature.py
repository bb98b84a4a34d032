"""Slack's request signature, checked before anything else reads the request.

Bolt checks signatures too, but with `int(timestamp)` and a `str` comparison that raise on a
malformed timestamp or a non-ASCII signature (a 500), and it logs the whole body of every badly
signed request at INFO (anyone on the network could fill the log and forge lines in it). This
check runs first, on the raw bytes, and cannot raise: every header value is judged by its shape
before it is used, and the answer is the reason a request is refused, never its content.

See https://api.slack.com/authentication/verifying-requests-from-slack.
"""

from __future__ import annotations

import hashlib
import hmac
import re

MAX_SKEW_S = 5 * 60
"""Slack's rule: a request signed more than five minutes from now is a replay."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signature_problem(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """Why the request is not Slack's (a short fixed phrase, safe to log), or None if it is."""
    if not timestamp or not signature:
        return "signature headers missing"
    # fullmatch on ASCII classes: `int()` would take "١٢" or " 12", and a surrogate-escaped
    # header (aiohttp's decoding of non-UTF-8 bytes) must never reach `.encode()`.
    if _TIMESTAMP.fullmatch(timestamp) is None:
        return "malformed timestamp"
    if _SIGNATURE.fullmatch(signature) is None:
        return "malformed signature"
    if abs(now - int(timestamp)) > MAX_SKEW_S:
        return "timestamp outside the five-minute window"
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return "signature does not match"
    return None


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` Slack sends for this body at this timestamp."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
