"""What every entry point speaks: who is acting (`Actor`) and what to answer (`Reply`).

Commands, buttons and forms from Slack, and the features they reach (diagnostics,
remediation, playbooks, checklists), all take an `Actor` and return a `Reply`; these types live
below every feature so none of them needs to import the dispatcher that routes to it.

A `Reply` says what to tell the person in the ack (decided within Slack's 3 seconds; for
changes, the Redis write happens before it, so "done" means saved), an optional `save` run
straight after the ack, and an optional `later` for the Slack work that follows, whose result
is told to the person ephemerally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Later = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class Actor:
    user: str
    channel: str
    trigger_id: str


@dataclass
class Reply:
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None
    view: dict[str, Any] | None = None
    save: Callable[[], Awaitable[None]] | None = None
    later: Later | None = None


@dataclass(frozen=True)
class Click:
    """A button or menu click: who, and on which message. What the button's value names is a
    request, checked against the record and the place clicked, never an authority."""

    user: str
    channel: str
    message_ts: str | None = None
    thread_ts: str | None = None
    """The thread the message is in (None when it is a top-level message)."""
    trigger_id: str | None = None
    block_id: str | None = None
    """The block of the button clicked."""
    ephemeral: bool = False
    """The message was shown to the clicker alone (it cannot be edited with `chat.update`)."""
