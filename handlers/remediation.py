"""Remediation buttons and the deny form: request (from any message), approve, deny, cancel,
re-check, preview again. Decisions are checked and recorded before the answer; whoever may not
decide is told why, ephemerally, and nothing changes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import blockkit as blocks
from bot.errors import FirelineError
from bot.remediation import views as approval_blocks
from bot.remediation.service import RemediationService
from bot.services import Services
from handlers import messages
from handlers.common import before_ack, explain
from handlers.replies import click_of, deliver, on_click, user_of


def register(app: AsyncApp, services: Services) -> None:
    if services.remediation is None:
        return
    remediation: RemediationService = services.remediation

    def on(action_id: str, what: str, make: Callable[[str, str, dict[str, Any]], Any]) -> None:
        on_click(
            app, services, action_id, what, lambda a, body: make(a["value"], user_of(body), body)
        )

    on(
        blocks.REMEDIATION_REQUEST,
        "Requesting the remediation",
        lambda v, _, body: remediation.from_button(v, click_of(body)),
    )
    on(approval_blocks.APPROVE, "Approving", lambda v, u, _: remediation.approve(v, u))
    on(approval_blocks.DENY, "Opening the deny form", lambda v, u, _: remediation.deny_form(v, u))
    on(approval_blocks.CANCEL, "Cancelling", lambda v, u, _: remediation.cancel(v, u))
    on(approval_blocks.RECHECK, "Re-checking", lambda v, u, _: remediation.recheck(v, u))
    on(approval_blocks.REPREVIEW, "Previewing again", lambda v, u, _: remediation.repreview(v, u))

    @app.view(approval_blocks.DENY_VIEW)
    @services.inflight.wrap
    async def on_deny(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = user_of(body)
        values = view["state"]["values"].get(approval_blocks.DENY_REASON, {})
        reason = str((values.get("value") or {}).get("value") or "").strip()
        if not reason:
            await ack(
                response_action="errors",
                errors={approval_blocks.DENY_REASON: messages.deny_reason_missing()},
            )
            return
        remediation_id = view.get("private_metadata", "")
        try:
            reply = await before_ack(remediation.deny(remediation_id, user, reason))
        except Exception as exc:
            await ack(
                response_action="errors",
                errors={approval_blocks.DENY_REASON: explain(exc, "Denying")},
            )
            return
        await ack()

        async def tell(text: str) -> None:
            with contextlib.suppress(FirelineError):
                await services.slack.post_message(user, text)

        await deliver(
            reply,
            ack=None,
            tell=tell,
            slack=services.slack,
            trigger_id=None,
            what="Denying",
            inflight=services.inflight,
        )
