"""Only the sandbox page itself may read the workspace or act in it.

The page is served on 127.0.0.1, but any web page the person visits can send requests there:
a cross-origin `text/plain` POST needs no preflight (it declared a P0 through `/incident`), and a
site whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) reads the answers as its own.
With `--cluster` the page reaches a real kubeconfig, so each request is checked:

- `Host` must be the loopback address and port the page is served on (127.0.0.1 or
  localhost): a rebound name arrives with its own name in `Host`. Every sandbox route.
- A per-run token, embedded in the page when it is served and sent by its JS in a header, on
  every request that reads the workspace or changes it. Another origin cannot read the page to
  learn it, and cannot set a custom header without a CORS preflight, which is never granted.
- On state changes also `Content-Type: application/json` (the type a cross-origin form or
  `text/plain` fetch cannot send without a preflight) and an `Origin` equal to the page's own.

Refusals are 403 (415 for the content type) with a sentence saying what was missing, and a
`reason` the page acts on: `token` is what a tab left open across a restart of the sandbox gets
(the new run has a new token), so the page says the sandbox restarted and offers a reload.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from aiohttp import web

TOKEN_HEADER = "X-Sandbox-Token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


class PageGuard:
    """The checks above, for one run of the sandbox (the token is new every run)."""

    def __init__(self, port: Callable[[], int | None]) -> None:
        self.token = secrets.token_urlsafe(32)
        self._port = port

    def hosts(self) -> frozenset[str]:
        port = self._port()
        return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES) if port else frozenset()

    def refuse(self, request: web.Request, *, reads: bool, writes: bool) -> web.Response | None:
        """None if the request may go on; else the answer that refuses it.

        `reads`: it reads the workspace (token required). `writes`: it changes the workspace
        (token, JSON and same-origin required)."""
        host = request.headers.get("Host", "")
        if host not in self.hosts():
            return _refusal(403, "host", "the sandbox answers only at its own loopback address")
        if writes:
            if request.content_type != "application/json":
                return _refusal(415, "content-type", "send the request as application/json")
            if request.headers.get("Origin") != f"http://{host}":
                return _refusal(
                    403, "origin", "only the sandbox page itself may act in the sandbox"
                )
        if (reads or writes) and not self._token_matches(request.headers.get(TOKEN_HEADER, "")):
            return _refusal(403, "token", "reload the sandbox page: its token is missing or stale")
        return None

    def _token_matches(self, given: str) -> bool:
        return given.isascii() and hmac.compare_digest(given.encode(), self.token.encode())


def _refusal(status: int, reason: str, why: str) -> web.Response:
    return web.json_response({"ok": False, "reason": reason, "error": why}, status=status)
