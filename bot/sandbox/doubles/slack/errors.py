"""The error a Web API method handler raises to answer ``{"ok": false, "error": code}``."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A Slack Web API error answer, with optional extra body fields and HTTP status."""

    def __init__(self, code: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}
