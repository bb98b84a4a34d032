"""Applying an approved remediation once, verifying it, and reconciling after a restart.

Approval schedules a `remediation-run` job on the durable scheduler (`bot.scheduler`): a restart
loses nothing, and a replica that dies mid-run leaves a lease another picks up. The job moves
the record through `approved → executing → verifying → succeeded | failed | unknown | stale`,
each step a compare-and-set, and holds a per-request Redis lock while it writes to Kubernetes:

- `approved`: re-read the target; a resourceVersion other than the preview's means nothing is
  applied and the card offers a fresh preview (`stale`). Otherwise apply with the preview's
  resourceVersion as a precondition (a 409 is `stale` too, never a blind retry). A 403 fails
  naming the missing RBAC verb and resource; a timeout is `unknown` with a Re-check button.
- `executing` found by a later run means the previous runner died mid-write: the target is read
  to see whether the change is in place — then it is verified — and it is never applied again.
- `verifying`: follow the rollout (or the replacement pod) until done, failed, or
  `verify_timeout_s`, which leaves the outcome `unknown` with a Re-check button.

Every step edits the card in place; outcomes go on the incident timeline (once per event) and
into the audit stream with requester, approver, before and after. The message whose button
asked for the request (a diagnosis, a playbook's guidance) shows, in place of the button, that
it was requested and then how it ended (`show_source`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot import messages as shared
from bot.blockkit import Block, Mrkdwn
from bot.clock import Clock
from bot.errors import Conflict, FirelineError, Forbidden, NotFound, TemporaryError, Unavailable
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.retry import with_retries
from bot.gateways.slack import SlackGateway
from bot.incident import Incident, TimelineEntry
from bot.policy.remediation import RemediationPolicy, RemediationRule
from bot.remediation import messages
from bot.remediation import views as approval_blocks
from bot.remediation.actions.base import AnyRemediation, Plan
from bot.remediation.actions.deployment import deployment_state
from bot.remediation.guard import RemediationGuard
from bot.remediation.store import Record, RemediationStore, Source, State
from bot.runtime.scheduler import Job, Scheduler
from bot.store.calls import raise_if_cancelled
from bot.store.store import Store

log = logging.getLogger(__name__)
MAX_CARD_EDITS = 5
"""Edits one `show()` makes while the record keeps changing under it."""

RUN = "remediation-run"
EXPIRE = "remediation-expire"
LOCK_MS = 60_000
PROGRESS_EDIT_S = 5.0
UNCLAIM_ATTEMPTS = 8
"""Tries (0.1 s, 0.2 s, … apart: about 9 s, a failover's length) to put back a claim to
`executing` whose answer was lost, before leaving it to be reported as not applied."""


def job_for(record: Record, kind: str, due: float) -> Job:
    return Job(id=f"remediation:{record.id}:{kind}", kind=kind, due=due, data={"id": record.id})


class RemediationRunner:
    def __init__(
        self,
        actions: tuple[AnyRemediation, ...],
        guard: RemediationGuard,
        records: RemediationStore,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        scheduler: Scheduler,
        kube: Callable[[str], KubeGateway],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.actions: dict[str, AnyRemediation] = {a.name: a for a in actions}
        self.guard = guard
        self.records = records
        self.store = store
        self.slack = slack
        self.clock = clock
        self.scheduler = scheduler
        self.kube = kube
        self.poll_s = poll_s
        scheduler.register(RUN, self._run_job)
        scheduler.register(EXPIRE, self._expire_job)

    @property
    def _section(self) -> RemediationPolicy:
        return self.guard.authorizer.policy.remediation

    # --- jobs ------------------------------------------------------------------------------

    async def _expire_job(self, job: Job, late_by: float) -> None:
        now = self.clock.now()

        def expire(r: Record) -> Record | None:
            if r.state != State.PENDING or now < r.expires_at:
                return None
            return r.model_copy(update={"state": State.EXPIRED, "finished_at": now})

        record, won = await self.records.update(str(job.data["id"]), expire)
        if won:
            await self.finish(record, "expired", None)

    async def _run_job(self, job: Job, late_by: float) -> None:
        remediation_id = str(job.data["id"])
        async with self.store.lock(f"remediation:{remediation_id}", ttl_ms=LOCK_MS, wait_s=0) as ok:
            if not ok:
                raise Unavailable(f"{remediation_id} is being applied by another run")
            record = await self.records.get(remediation_id)
            if record is None:
                return
            if record.state == State.APPROVED:
                record = await self._execute(record)
            elif record.state == State.EXECUTING:
                record = await self._settle(record)
        if record.state == State.VERIFYING:
            await self._verify(record)

    async def _move(self, record: Record, from_: State, **update: Any) -> tuple[Record, bool]:
        """Compare-and-set from `from_`; False (and the current record) if another run moved it."""
        if update.get("state") in {State.SUCCEEDED, State.FAILED, State.STALE}:
            update.setdefault("finished_at", self.clock.now())

        def move(r: Record) -> Record | None:
            return r.model_copy(update=update) if r.state == from_ else None

        return await self.records.update(record.id, move)

    async def _execute(self, record: Record) -> Record:
        action, plan = self.actions[record.action], record.plan
        kube = self.kube(plan.cluster)
        try:
            now_version = await _version(kube, plan)
        except (NotFound, TemporaryError, Forbidden) as exc:
            why = messages.not_read_before_applying(str(exc))
            return await self._end(record, State.APPROVED, State.FAILED, why)
        if now_version != plan.resource_version:
            why = messages.target_changed(plan.resource_version, now_version)
            return await self._end(record, State.APPROVED, State.STALE, why)
        try:
            record, won = await self._move(record, State.APPROVED, state=State.EXECUTING)
        except TemporaryError:
            await self._unclaim(record)
            raise
        if not won:
            return record
        await self.show(record)
        try:
            await action.apply(kube, plan)
        except Conflict:
            return await self._end(record, State.EXECUTING, State.STALE, messages.target_conflict())
        except NotFound as exc:
            why = messages.target_gone(str(exc))
            return await self._end(record, State.EXECUTING, State.FAILED, why)
        except Forbidden as exc:
            return await self._end(record, State.EXECUTING, State.FAILED, str(exc))
        except TemporaryError as exc:
            why = messages.write_outcome_unknown(str(exc))
            return await self._end(record, State.EXECUTING, State.UNKNOWN, why)
        return await self._applied(record, State.EXECUTING)

    async def _unclaim(self, record: Record) -> None:
        """The move to `executing` was sent and its answer lost (a failover): it may have
        landed, and this run certainly sent no write. Put it back to `approved` while Redis
        comes back, so the job's next run applies it; a run finding `executing` could only
        report the approved change as not applied. (This run holds the request's lock:
        nobody else is writing.) If Redis stays away longer, that report is what people get."""
        try:
            await with_retries(
                lambda: self._move(record, State.EXECUTING, state=State.APPROVED),
                attempts=UNCLAIM_ATTEMPTS,
                backoff_s=0.1,
            )
        except TemporaryError as exc:
            log.warning("%s may be left executing, with nothing applied: %s", record.id, exc)

    async def _applied(self, record: Record, from_: State) -> Record:
        await self.records.applied_to(record, self._rule(record).cooldown_minutes * 60)
        record, won = await self._move(record, from_, state=State.VERIFYING, applied=True)
        if won:
            await self.show(record)
        return record

    async def _settle(self, record: Record) -> Record:
        """The previous run died while applying: find out whether it landed; never re-apply."""
        try:
            applied = await self.actions[record.action].applied(
                self.kube(record.plan.cluster), record.plan
            )
        except TemporaryError as exc:
            why = messages.write_outcome_unknown(str(exc))
            return await self._end(record, State.EXECUTING, State.UNKNOWN, why)
        if applied:
            return await self._applied(record, State.EXECUTING)
        why = messages.interrupted_not_applied()
        return await self._end(record, State.EXECUTING, State.FAILED, why)

    async def _end(self, record: Record, from_: State, to: State, reason: str) -> Record:
        record, won = await self._move(record, from_, state=to, reason=reason)
        if won:
            await self.finish(record, to.value, None)
        return record

    async def _verify(self, record: Record) -> None:
        action, kube = self.actions[record.action], self.kube(record.plan.cluster)
        timeout = float(self._section.verify_timeout_s)
        deadline = time.monotonic() + timeout
        seen = record.progress or ""
        next_edit = 0.0
        while True:
            # A stopping bot cancels this run, but redis-py can swallow the cancellation (in a
            # CAS, a card edit, even before this loop), and the loop would then verify on after
            # `stop()` and mark the job done. Stop here instead: the job's lease hands it over.
            raise_if_cancelled()
            try:
                progress = await action.check(kube, record.plan)
            except TemporaryError as exc:
                if time.monotonic() >= deadline:
                    why = messages.verify_unreachable(str(exc))
                    await self._end(record, State.VERIFYING, State.UNKNOWN, why)
                    return
            else:
                if progress.status != "progressing":
                    to = State.SUCCEEDED if progress.status == "done" else State.FAILED
                    await self._conclude(record, to, progress.text)
                    return
                if progress.text != seen and time.monotonic() >= next_edit:
                    # Card edits are chat.update calls (Slack Tier 3, ~50/min): at most one
                    # progress edit per PROGRESS_EDIT_S per card.
                    seen, next_edit = progress.text, time.monotonic() + PROGRESS_EDIT_S
                    record, won = await self._move(record, State.VERIFYING, progress=seen)
                    if not won:
                        return
                    await self.show(record)
                if time.monotonic() >= deadline:
                    why = messages.verify_timed_out(timeout, progress.text)
                    await self._end(record, State.VERIFYING, State.UNKNOWN, why)
                    return
            await asyncio.sleep(self.poll_s)

    async def _conclude(self, record: Record, to: State, text: str) -> None:
        after = await self._state_after(record.plan)
        reason = text if to == State.FAILED else None
        record, won = await self._move(
            record, record.state, state=to, progress=text, after=after, reason=reason
        )
        if won:
            await self.finish(record, to.value, None)

    async def _state_after(self, plan: Plan) -> str | None:
        if plan.kind != "deployment":
            return None
        try:
            deployment = await self.kube(plan.cluster).get_deployment(plan.namespace, plan.name)
            return deployment_state(deployment)
        except FirelineError:
            return None

    async def recheck(self, remediation_id: str) -> str | None:
        """Re-check an `unknown` outcome: was it applied, and has it settled?"""
        async with self.store.lock(f"remediation:{remediation_id}", ttl_ms=LOCK_MS) as ok:
            record = await self.records.get(remediation_id)
            if not ok or record is None or record.state != State.UNKNOWN:
                return None
            action, kube = self.actions[record.action], self.kube(record.plan.cluster)
            try:
                if record.applied is None:
                    if not await action.applied(kube, record.plan):
                        why = messages.interrupted_not_applied()
                        await self._end(record, State.UNKNOWN, State.FAILED, why)
                        return None
                    record, _ = await self._move(record, State.UNKNOWN, applied=True)
                progress = await action.check(kube, record.plan)
            except TemporaryError as exc:
                return shared.action_failed(record.action, str(exc))
            if progress.status == "progressing":
                record, won = await self._move(
                    record,
                    State.UNKNOWN,
                    progress=progress.text,
                    reason=messages.verify_timed_out(0, progress.text),
                )
                if won:
                    await self.show(record)
                return None
            to = State.SUCCEEDED if progress.status == "done" else State.FAILED
            await self._conclude(record, to, progress.text)
        return None

    # --- start-up --------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Give every unfinished request the job it needs (a crash may have left it without)."""
        scheduled = 0
        for record in await self.records.active():
            kind = EXPIRE if record.state == State.PENDING else RUN
            if record.state == State.UNKNOWN:
                continue  # waits for a person to re-check
            job = job_for(record, kind, self.clock.now().timestamp())
            if kind == EXPIRE:
                job = job_for(record, kind, record.expires_at.timestamp())
            if await self.scheduler.queue.get(job.id) is None:
                await self.scheduler.schedule(job)
                scheduled += 1
        return scheduled

    # --- showing and recording -------------------------------------------------------------

    def _rule(self, record: Record) -> RemediationRule:
        return self._section.actions[record.action]

    async def incident(self, record: Record) -> Incident | None:
        """The request's incident as it is now (None: none, or it cannot be read)."""
        if record.incident_id is None:
            return None
        try:
            return await self.store.get(record.incident_id)
        except FirelineError:
            return None

    async def approvers(self, record: Record) -> str:
        rule = self._rule(record)
        self_ok = self.guard.self_approval_allowed(record, await self.incident(record))
        return messages.remediation_approvers(rule.approve_roles, self_ok)

    async def show(self, record: Record) -> None:
        """Edit the card in place to the record's *latest* state (derived state: a failed edit
        is logged, the next one fixes it).

        Two edits can race (the approve click's "Approved …" and the run job's "Not applied"),
        and Slack keeps whichever lands last. So each edit renders the record as it is now, and
        after its edit lands re-reads it: if the record moved on meanwhile, it edits again. The
        last edit to land is always followed by such a check, so the card ends on the last
        state. (No lock: a process stopped mid-edit must not hold up the next one.)

        Never raises: a card that could not be edited, or a record that could not be read
        for it (Redis in a failover), must not stop the caller; a run between `executing`
        and its write least of all, which the next run would then report as not applied.
        """
        if not record.card_ts:
            return
        try:
            await self._edit_card(record, record.card_ts)
        except FirelineError as exc:
            log.warning("could not update the card of %s: %s", record.id, exc)

    async def _edit_card(self, record: Record, card_ts: str) -> None:
        latest = await self.records.get(record.id) or record
        for _ in range(MAX_CARD_EDITS):
            text, blocks = approval_blocks.card(latest, await self.approvers(latest))
            await self.slack.update_message(latest.channel, card_ts, text, blocks)
            now = await self.records.get(record.id)
            if now is None or now == latest:
                return
            latest = now

    async def show_source(self, record: Record) -> None:
        """Edit the message whose button asked for `record`: the button gives way to a line
        saying where the request stands (requested, then its outcome), so a spent button no
        longer invites a click. Read back from Slack, as other buttons of the message may have
        changed it, under a lock per message; rendered from the record as it is by then. Never
        raises (derived state, like the card: a failed edit is logged, the next one fixes it)."""
        source = record.source
        if source is None:
            return

        async def answered(blocks: list[Block]) -> list[Block]:
            latest = await self.records.get(record.id) or record
            action = self.actions[latest.action]
            typed = approval_blocks.as_typed(action.build(dict(latest.params)), latest.plan.name)
            line = approval_blocks.offer_line(latest, typed)
            return approval_blocks.offer_answered(blocks, source, latest.id, line)

        await self._edit_source(record.channel, source, answered, f"the offer of {record.id}")

    async def show_outdated(self, channel: str, source: Source, line: Mrkdwn) -> None:
        """Edit the message whose button was clicked after its target changed: the button gives
        way to `line`, so it no longer invites a click that requests nothing. As `show_source`:
        read back under the message's lock; never raises."""

        async def outdated(blocks: list[Block]) -> list[Block]:
            return approval_blocks.offer_outdated(blocks, source, line)

        await self._edit_source(channel, source, outdated, "an outdated offer")

    async def _edit_source(
        self,
        channel: str,
        source: Source,
        edit: Callable[[list[Block]], Awaitable[list[Block]]],
        what: str,
    ) -> None:
        """The message a button was on, read back from Slack under its lock (other buttons of
        it edit it too), `edit`ed, and updated when that changed it. Never raises: a failed
        edit is logged (derived state, like the card; the next one fixes it)."""
        try:
            lock = f"remediation-source:{channel}:{source.ts}"
            async with self.store.lock(lock, wait_s=5.0) as ok:
                if not ok:
                    log.warning("the message of %s is being edited", what)
                    return
                message = await self.slack.message(channel, source.ts)
                if message is None:
                    return
                blocks = list(message.get("blocks") or [])
                edited = await edit(blocks)
                if edited != blocks:
                    text = str(message.get("text") or "")
                    await self.slack.update_message(channel, source.ts, text, edited)
        except FirelineError as exc:
            log.warning("could not update the message of %s: %s", what, exc)

    async def announce(self, record: Record, event: str, actor: str | None) -> None:
        await self.show(record)
        await self.record(record, event, actor, None)

    async def finish(self, record: Record, event: str, actor: str | None) -> None:
        await self.show(record)
        await self.show_source(record)
        await self.record(record, event, actor, record.reason or record.progress)

    async def record(
        self, record: Record, event: str, actor: str | None, detail: str | None
    ) -> None:
        """The audit stream always; the incident timeline once per event."""
        self.scheduler.metrics.remediation(record.action, event)
        plan = record.plan
        entry = {
            "at": self.clock.now().isoformat(),
            "user": actor or record.approver or record.requester,
            "action": record.action,
            "target": plan.target,
            "outcome": event,
            "duration_ms": "0",
            "incident": record.incident_id or "",
            "detail": (detail or "")[:500],
            "remediation": record.id,
            "requester": record.requester,
            "approver": record.approver or "",
            "before": "; ".join(f"{c.what}: {c.before}" for c in plan.changes),
            "after": "; ".join(f"{c.what}: {c.after}" for c in plan.changes)
            + (f" ({record.after})" if record.after else ""),
        }
        try:
            await self.store.audit(entry)
            if record.incident_id:
                text = messages.remediation_timeline(
                    record.id,
                    approval_blocks.what(record),
                    messages.remediation_event(event, actor, detail),
                )
                await self.store.append_once(
                    record.incident_id,
                    f"remediation:{record.id}:{event}",
                    TimelineEntry(
                        at=self.clock.now(), actor=entry["user"], kind="remediation", text=text
                    ),
                )
        except FirelineError:
            log.exception("could not record %s %s", record.id, event)

    async def audit_request(
        self, action: str, user: str, incident_id: str | None, outcome: str, detail: str
    ) -> None:
        """A request that ended before it had a record (denied, rejected, failed to preview)."""
        self.scheduler.metrics.remediation(action, outcome)
        entry = {
            "at": self.clock.now().isoformat(),
            "user": user,
            "action": action,
            "target": "-",
            "outcome": outcome,
            "duration_ms": "0",
            "incident": incident_id or "",
            "detail": detail[:500],
        }
        try:
            await self.store.audit(entry)
        except FirelineError:
            log.exception("could not audit a %s request by %s", action, user)


async def _version(kube: KubeGateway, plan: Plan) -> str:
    if plan.kind == "pod":
        obj = await kube.get_pod(plan.namespace, plan.name)
    else:
        obj = await kube.get_deployment(plan.namespace, plan.name)
    return str(obj["metadata"].get("resourceVersion", ""))
