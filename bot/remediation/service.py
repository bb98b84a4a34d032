"""Guarded remediation: request → dry-run preview → approval card → approve / deny / cancel /
expire. Applying and verifying an approved change is `bot.remediation_runner`.

Requests come from `/incident restart task-service -n orion-prod` or from a
`remediation.request` button anywhere (`from_button`): the policy is checked first (a denial
says why), then the write is sent with `dryRun=All` and the card shows exactly what would
change, the target now and who asked. The card goes to the incident channel, or into the
thread the button was clicked in. A button's value is a request, never an authority: the
incident it belongs to is the one of the place it was clicked (the incident channel, or the
alert thread's linked incident), and a value naming another is refused; its target and
namespace go through the same policy checks as a typed request. What the value says the target
was when offered (`offered`: the revision, the replicas) can only refuse: a target that has
moved on since (the rollback already done) is answered with what is true now and what to run,
and nothing is requested. The message whose button asked shows where the request stands in
place of the button (`RemediationRunner.show_source`). Decisions are checked before
the ack, on the stored record, for the person clicking (who may approve: a holder of the
action's `approve_roles`, never the requester unless the policy says so; see the guard) and
the approval itself is the record's compare-and-set from `pending` (`RemediationStore.update`),
so a double click, a Slack retry or two replicas approve once. Everything lands on the incident
timeline and in the audit stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from bot import messages as shared
from bot.actions.base import Context, KubeParams, kube_scope
from bot.actions.kubernetes import resolve_deployment
from bot.blockkit import slack_date
from bot.clock import Clock
from bot.errors import (
    Denied,
    FirelineError,
    Outdated,
    TemporaryError,
    Unconfirmed,
    UsageError,
    UserError,
)
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.slack import SlackGateway
from bot.incident import Incident
from bot.interaction import Actor, Click, Reply
from bot.policy import messages as policy_messages
from bot.remediation import messages
from bot.remediation import views as approval_blocks
from bot.remediation.actions.base import AnyRemediation, Preview, Remediation
from bot.remediation.actions.deployment import moved_since
from bot.remediation.guard import RemediationGuard
from bot.remediation.runner import EXPIRE, RUN, RemediationRunner, job_for
from bot.remediation.store import Record, RemediationStore, Source, State, target_key
from bot.store.store import Store

log = logging.getLogger(__name__)

P = TypeVar("P", bound=KubeParams)

IncidentAt = Callable[[str, str | None], Awaitable[Incident | None]]
"""(channel, thread ts) → the incident that place belongs to: the incident channel's own, or
the linked incident of the alert group whose thread it is."""


class Offered(BaseModel):
    """What a button's target was when it was offered (its value's `offered`, from
    `bot.diagnostics.remedies.seen`). It can only refuse a click, never allow one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    revision: int | None = None
    replicas: int | None = None
    at: int = 0
    """When it was offered (epoch seconds)."""


@dataclass(frozen=True)
class Origin:
    """Who asked, and where the card goes (the incident channel, or a button's thread)."""

    user: str
    channel: str
    thread_ts: str | None
    incident: Incident | None
    offered: Offered | None = None
    """What the button's target was when it was offered."""
    source: Source | None = None
    """The message of the button, to show where the request stands in its place."""


class RemediationService:
    def __init__(
        self,
        actions: tuple[AnyRemediation, ...],
        guard: RemediationGuard,
        records: RemediationStore,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        runner: RemediationRunner,
        kube: Callable[[str], KubeGateway],
        context_for: Callable[[str], Context],
        incident_at: IncidentAt | None = None,
    ) -> None:
        self.actions: dict[str, AnyRemediation] = {a.name: a for a in actions}
        self.guard = guard
        self.records = records
        self.store = store
        self.slack = slack
        self.clock = clock
        self.runner = runner
        self.kube = kube
        self.context_for = context_for
        self.incident_at = incident_at or self._channel_incident

    async def _channel_incident(self, channel: str, thread_ts: str | None) -> Incident | None:
        return await self.store.find_by_channel(channel)

    async def _refused(self, user: str, what: str, incident_id: str | None, reason: str) -> Denied:
        """Record a refusal (audit stream, log) and return it to raise."""
        if self.guard.authority is not None:
            await self.guard.authority.record_refusal(user, what, incident_id, reason)
        return Denied(reason)

    # --- requesting ------------------------------------------------------------------------

    async def command(self, name: str, text: str, actor: Actor) -> Reply:
        """`/incident restart task-service …`: parse and find the incident before the ack."""
        action = self.actions[name]
        params = action.parse(text)
        if not await self.store.claim("trigger", actor.trigger_id, ttl=3600):
            return Reply(text=shared.delivered_twice())
        incident = await self.store.find_by_channel(actor.channel)
        origin = Origin(actor.user, actor.channel, None, incident)
        return Reply(
            text=messages.remediation_previewing(name, " ".join(text.split())),
            later=partial(self.request, action, params, origin),
        )

    async def from_button(self, value: str, click: Click) -> Reply:
        """A `remediation.request` button: `{"action", "params", "incident"?}` as its value.

        The value only asks: the incident is the one of the place clicked, and one naming
        another is refused; the target and namespace are checked by the policy like a typed
        request's."""
        try:
            data = json.loads(value)
            action = self.actions[str(data["action"])]
            values = dict(data.get("params") or {})
            offered = Offered.model_validate(data["offered"]) if "offered" in data else None
        except (ValueError, KeyError, TypeError, AttributeError):  # ValidationError is a ValueError
            raise UsageError(messages.remediation_bad_button()) from None
        params = action.build(values)
        incident = await self.incident_at(click.channel, click.thread_ts or click.message_ts)
        named = data.get("incident")
        if named is not None and (incident is None or str(named) != incident.id):
            here = incident.id if incident else None
            raise await self._refused(
                click.user,
                f"remediation.request {action.name}",
                here,
                policy_messages.not_this_incident(str(named)[:20], here),
            )
        source = None
        # Read back and edited later: not an ephemeral message, nor a DM (reading a DM's
        # history takes a scope Fireline does not ask for).
        readable = not click.ephemeral and not click.channel.startswith("D")
        if click.message_ts and click.block_id and readable:
            source = Source(ts=click.message_ts, block_id=click.block_id, value=value)
        thread = click.thread_ts or click.message_ts
        origin = Origin(click.user, click.channel, thread, incident, offered, source)
        shown = approval_blocks.as_typed(params, action.target(params))
        return Reply(
            text=messages.remediation_previewing(action.name, shown),
            later=partial(self.request, action, params, origin),
        )

    async def request(self, action: Remediation[P, Any], params: P, origin: Origin) -> str | None:
        """Policy, dry-run preview, record, card, expiry. Returns what the requester is told."""
        incident_id = origin.incident.id if origin.incident else None
        try:
            return await self._request(action, params, origin)
        except Denied as exc:
            what = f"remediation.request {action.name}"
            if self.guard.authority is not None:
                await self.guard.authority.record_refusal(origin.user, what, incident_id, str(exc))
            else:
                await self.runner.audit_request(
                    action.name, origin.user, incident_id, "denied", str(exc)
                )
            return str(exc)
        except UserError as exc:
            await self.runner.audit_request(
                action.name, origin.user, incident_id, "rejected", str(exc)
            )
            return str(exc)
        except FirelineError as exc:
            await self.runner.audit_request(
                action.name, origin.user, incident_id, "failed", str(exc)
            )
            return shared.action_failed(action.name, str(exc))

    async def _request(self, action: Remediation[P, Any], params: P, origin: Origin) -> str | None:
        scope = kube_scope(self.context_for(origin.user), params, action.target(params))
        assert scope.cluster is not None and scope.namespace is not None
        rule = await self.guard.check_request(
            origin.user, action.name, scope.cluster, scope.namespace
        )
        if origin.offered is not None:
            await self._as_offered(action, params, scope.cluster, scope.namespace, origin)
        now = self.clock.now()
        plan = await action.preview(
            Preview(params, self.kube(scope.cluster), scope.cluster, scope.namespace, rule, now)
        )
        section = self.guard.authorizer.policy.remediation
        incident = origin.incident
        channel = origin.channel
        if incident and incident.channel_id and not origin.thread_ts:
            channel = incident.channel_id  # a typed request's card goes to the incident channel
        record = Record(
            id=await self.records.new_id(),
            action=action.name,
            params=params.model_dump(exclude_none=True),
            plan=plan,
            requester=origin.user,
            channel=channel,
            thread_ts=origin.thread_ts,
            incident_id=incident.id if incident else None,
            severity=incident.most_severe.value if incident else None,
            requested_at=now,
            expires_at=now + timedelta(minutes=section.expiry_minutes),
            source=origin.source if channel == origin.channel else None,
        )
        cooling = await self.records.cooldown(record.target_key)
        if cooling is not None:
            raise Denied(messages.remediation_cooldown(plan.target, cooling[0], cooling[1]))
        hold = int(section.expiry_minutes * 60 + section.verify_timeout_s + 600)
        held_by = await self.records.create(record, hold)
        if held_by:
            held = await self.records.get(held_by)
            in_thread = held is not None and held.thread_ts is not None
            return messages.remediation_open(plan.target, held_by, in_thread)
        text, blocks = approval_blocks.card(record, await self.runner.approvers(record))
        try:
            ts = await self.slack.post_message(
                record.channel, text, blocks, thread_ts=record.thread_ts
            )
        except FirelineError as exc:
            failed = {"state": State.FAILED, "reason": str(exc)}
            await self.records.update(record.id, lambda r: r.model_copy(update=failed))
            raise
        record, _ = await self.records.update(
            record.id, lambda r: r.model_copy(update={"card_ts": ts})
        )
        await self.runner.scheduler.schedule(job_for(record, EXPIRE, record.expires_at.timestamp()))
        await self.runner.record(record, "requested", origin.user, None)
        await self.runner.show_source(record)
        if record.channel != origin.channel:
            return messages.remediation_requested(record.id)
        # A clicked request's card goes into that message's thread, out of sight: say where.
        return messages.remediation_requested_in_thread(record.id) if record.thread_ts else None

    async def _as_offered(
        self,
        action: Remediation[P, Any],
        params: P,
        cluster: str,
        namespace: str,
        origin: Origin,
    ) -> None:
        """A button offers a change for its target as it was then: if the target has moved on
        since (a rollback or restart made a new revision, the replicas were scaled, a release
        went out), raise `Outdated` saying what is true now, the remediation that changed it
        when Fireline did, and what to run for a fresh view."""
        if action.kind != "deployment":
            return  # a pod's offer: a pod deleted since is not found by the preview
        offered = origin.offered
        assert offered is not None
        name = action.target(params)
        deployment = await resolve_deployment(self.kube(cluster), namespace, name)
        moved = moved_since(deployment, offered.revision, offered.replicas)
        if not moved:
            return
        by = ""
        last = await self.records.last_applied(target_key(cluster, namespace, action.kind, name))
        if last is not None and last.approved_at and last.approved_at.timestamp() >= offered.at:
            changes = approval_blocks.changes_text(last.plan.changes)
            when = slack_date(last.finished_at or last.approved_at, approval_blocks.WHEN)
            by = messages.offer_changed_by(
                last.id, approval_blocks.what(last), last.approver, when, changes
            )
        fresh = approval_blocks.fresh_view(action.kind, name, namespace, params.cluster)
        if origin.source is not None:  # the button no longer invites a click
            line = messages.offer_outdated_line(name, moved, fresh)
            await self.runner.show_outdated(origin.channel, origin.source, line)
        raise Outdated(messages.offer_outdated(name, moved, by, fresh))

    async def repreview(self, remediation_id: str, user: str) -> Reply:
        """ "Preview again" on a card that went stale: a fresh request, same action and target."""
        record = await self._get(remediation_id)
        if record.state != State.STALE:
            return Reply(text=messages.remediation_no_longer(record.id, record.state.value))
        if user != record.requester:
            await self.guard.check_approver(record, user, await self.runner.incident(record))
        action = self.actions[record.action]
        params = action.build(dict(record.params))
        incident = await self.store.get(record.incident_id) if record.incident_id else None
        # Still the requester's request (so they still cannot approve it themselves).
        thread = record.thread_ts or record.card_ts
        # The message whose button asked, if any, now shows where this one stands.
        origin = Origin(record.requester, record.channel, thread, incident, source=record.source)
        return Reply(
            text=messages.remediation_previewing(action.name, record.plan.name),
            later=partial(self.request, action, params, origin),
        )

    # --- deciding (before the ack: checks and the compare-and-set; Slack after it) ---------

    async def _get(self, remediation_id: str) -> Record:
        record = await self.records.get(remediation_id)
        if record is None:
            raise UsageError(messages.remediation_unknown_id())
        return record

    async def _pending(self, remediation_id: str) -> Record:
        record = await self._get(remediation_id)
        if record.state != State.PENDING:
            raise UsageError(messages.remediation_no_longer(record.id, record.state.value))
        return record

    async def approve(self, remediation_id: str, user: str) -> Reply:
        record = await self._pending(remediation_id)
        await self.guard.check_approver(record, user, await self.runner.incident(record))
        now = self.clock.now()

        def claim(r: Record) -> Record | None:
            if r.state != State.PENDING:
                return None
            if now >= r.expires_at:
                return r.model_copy(update={"state": State.EXPIRED, "finished_at": now})
            return r.model_copy(
                update={"state": State.APPROVED, "approver": user, "approved_at": now}
            )

        # The run job is written in the claim's own transaction: an approval is never recorded
        # without it, even when the click's work is cut short (a failover, the ack budget)
        # between two calls, and no person has to click again (they would be told "approved").
        run = job_for(record, RUN, now.timestamp())
        queue = self.runner.scheduler.queue
        try:
            record, won = await self.records.update(
                remediation_id,
                claim,
                also=lambda pipe, new: (
                    queue.schedule_in(pipe, run) if new.state == State.APPROVED else None
                ),
            )
        except TemporaryError as exc:
            # Sent, maybe made, its answer lost (a failover): never "did not happen".
            self.runner.scheduler.added(run)  # if it was made, its job is due now
            raise Unconfirmed(messages.approval_unconfirmed(remediation_id)) from exc
        if not won or record.state != State.APPROVED:
            if won:  # it had expired: show that
                await self.runner.finish(record, "expired", None)
            return Reply(text=messages.remediation_no_longer(record.id, record.state.value))
        self.runner.scheduler.added(run)
        return Reply(later=partial(self.runner.announce, record, "approved", user))

    async def deny_form(self, remediation_id: str, user: str) -> Reply:
        record = await self._pending(remediation_id)
        await self.guard.check_approver(record, user, await self.runner.incident(record))
        return Reply(view=approval_blocks.deny_modal(record))

    async def deny(self, remediation_id: str, user: str, reason: str) -> Reply:
        record = await self._pending(remediation_id)
        await self.guard.check_approver(record, user, await self.runner.incident(record))
        return await self._decide(remediation_id, user, State.DENIED, reason)

    async def cancel(self, remediation_id: str, user: str) -> Reply:
        record = await self._pending(remediation_id)
        if user != record.requester:
            reason = messages.only_requester_cancels(record.id, record.requester)
            raise await self._refused(
                user, f"remediation.cancel {record.id}", record.incident_id, reason
            )
        return await self._decide(remediation_id, user, State.CANCELLED, None)

    async def _decide(
        self, remediation_id: str, user: str, state: State, reason: str | None
    ) -> Reply:
        now = self.clock.now()

        def decide(r: Record) -> Record | None:
            if r.state != State.PENDING:
                return None
            return r.model_copy(
                update={"state": state, "decided_by": user, "reason": reason, "finished_at": now}
            )

        record, won = await self.records.update(remediation_id, decide)
        if not won:
            return Reply(text=messages.remediation_no_longer(record.id, record.state.value))
        await self.runner.scheduler.cancel(f"remediation:{record.id}:{EXPIRE}")
        return Reply(later=partial(self.runner.finish, record, state.value, user))

    async def recheck(self, remediation_id: str, user: str) -> Reply:
        record = await self._get(remediation_id)
        if record.state != State.UNKNOWN:
            return Reply(text=messages.remediation_no_longer(record.id, record.state.value))
        if user != record.requester:
            await self.guard.check_approver(record, user, await self.runner.incident(record))
        return Reply(later=partial(self.runner.recheck, record.id))
