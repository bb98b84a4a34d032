"""What happens after a declaration without anyone asking: checklists at their marks,
acknowledgement reminders and escalation, status-update reminders — and what responders do
with them (answer an item, snooze reminders).

`Followups` owns four job kinds on the scheduler and keeps them in step with the incident:
the dispatcher calls `declared()` once and `changed()` after every recorded change (severity
reschedules, acknowledgement stops escalation, an update resets the reminder clock, resolving
cancels everything). Each job re-reads the incident when it runs, so a job that outlived its
reason does nothing.

A job Slack cannot deliver for good (channel archived, bot removed, token revoked) is not
retried: the failure goes on the incident's timeline and the commander is told by DM where
Slack still lets us. Temporary failures are left to the scheduler's backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from bot.checklists import messages
from bot.checklists import views as checklist_blocks
from bot.checklists.models import (
    Answer,
    AnswerKind,
    ChecklistBook,
    ChecklistConfig,
    PostedChecklist,
)
from bot.checklists.reads import JobReads
from bot.checklists.reminders import SNOOZES, ReminderPolicy, mentions_commander
from bot.clock import Clock
from bot.errors import (
    FirelineError,
    PermanentError,
    SlackRejected,
    Unavailable,
    UserError,
)
from bot.gateways.slack import Blocks, SlackGateway
from bot.incident import Incident, TimelineEntry
from bot.interaction import Reply
from bot.runtime.posts import Posts
from bot.runtime.scheduler import Failure, Job, Scheduler
from bot.store.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

CHECKLIST = "checklist"
ACK_REMINDER = "ack-reminder"
ESCALATION = "ack-escalation"
UPDATE_REMINDER = "update-reminder"
ACTOR = "Fireline"


def _occurrence(job: Job) -> str:
    """One run of a job, however many attempts it takes (a retry keeps `due`)."""
    return f"job:{job.id}:{job.due!r}"


def job_id(incident_id: str, kind: str, minutes: int | None = None) -> str:
    return f"{incident_id}:{kind}" + (f":{minutes}" if minutes is not None else "")


class Followups:
    def __init__(
        self,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        scheduler: Scheduler,
        checklists: ChecklistConfig,
        policy: ReminderPolicy,
        *,
        broadcast_channel: str | None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.posts = Posts(store.redis, store.keys, slack)
        self.clock = clock
        self.scheduler = scheduler
        self.checklists = checklists
        self.policy = policy
        self.broadcast_channel = broadcast_channel
        self.book = ChecklistBook(store)
        self.reads = JobReads(store, self.book)
        scheduler.register(CHECKLIST, self._post_checklist)
        scheduler.register(ACK_REMINDER, self._remind_ack)
        scheduler.register(ESCALATION, self._escalate)
        scheduler.register(UPDATE_REMINDER, self._remind_update)
        scheduler.give_up = self._gave_up

    # --- keeping the jobs in step with the incident ----------------------------------------

    async def declared(self, incident: Incident) -> None:
        await self._schedule_all(incident)

    async def changed(self, incident: Incident, entries: list[TimelineEntry]) -> None:
        if not incident.is_open:
            await self.scheduler.cancel(group=incident.id)
            return
        kinds = {e.kind for e in entries}
        if "severity" in kinds:
            await self._schedule_all(incident)
            return
        if incident.acknowledged_at is not None:
            await self.scheduler.cancel(
                job_id(incident.id, ACK_REMINDER), job_id(incident.id, ESCALATION)
            )
        if "update" in kinds:
            await self._schedule_update(incident)

    async def _schedule_all(self, incident: Incident) -> None:
        posted = {c.spec.minutes for c in await self.book.all(incident.id)}
        wanted = self.checklists.for_severity(incident.severity)
        for spec in wanted:
            if spec.minutes not in posted:
                due = incident.created_at.timestamp() + spec.minutes * 60
                await self._schedule(incident, CHECKLIST, due, minutes=spec.minutes)
        keep = {job_id(incident.id, CHECKLIST, s.minutes) for s in wanted}
        stale = [
            j.id
            for j in await self.scheduler.queue.pending(incident.id)
            if j.kind == CHECKLIST and j.id not in keep
        ]
        if stale:
            await self.scheduler.cancel(*stale)
        reminder, escalation = (
            self.policy.ack_reminder_at(incident),
            self.policy.escalation_at(incident),
        )
        if incident.acknowledged_at is None and reminder and escalation:
            await self._schedule(incident, ACK_REMINDER, reminder.timestamp())
            await self._schedule(incident, ESCALATION, escalation.timestamp())
        else:
            await self.scheduler.cancel(
                job_id(incident.id, ACK_REMINDER), job_id(incident.id, ESCALATION)
            )
        await self._schedule_update(incident)

    async def _schedule_update(self, incident: Incident) -> None:
        due = self.policy.next_update_due(incident, self.clock.now())
        snooze = await self._snoozed_until(incident.id)
        if due is None or isinstance(snooze, str):  # "resolved": snoozed until the end
            await self.scheduler.cancel(job_id(incident.id, UPDATE_REMINDER))
            return
        when = max(due.timestamp(), snooze or 0.0)
        await self._schedule(incident, UPDATE_REMINDER, when)

    async def _schedule(
        self, incident: Incident, kind: str, due: float, minutes: int | None = None
    ) -> None:
        data = {} if minutes is None else {"minutes": minutes}
        job = Job(
            id=job_id(incident.id, kind, minutes),
            kind=kind,
            due=due,
            group=incident.id,
            data=data,
        )
        await self.scheduler.schedule(job)

    # --- jobs --------------------------------------------------------------------------------

    async def _incident(self, job: Job) -> Incident | None:
        return await self.reads.incident(job.group or "")

    async def _post_checklist(self, job: Job, late_by: float) -> None:
        incident, posted_before = await self.reads.with_checklists(job.group or "")
        minutes = int(job.data["minutes"])
        spec = incident and self.checklists.spec(incident.severity, minutes)
        if incident is None or spec is None:
            return
        if any(c.spec.minutes == minutes for c in posted_before):
            return  # posted by an earlier run
        channel = _channel(incident)
        earlier = [c for c in posted_before if c.spec.minutes < minutes]
        overdue = [(c, n, text) for c in earlier for n, text in c.open_items()]
        mention = incident.commander if overdue and mentions_commander(incident.severity) else None
        posted = PostedChecklist(
            incident_id=incident.id,
            spec=spec,
            channel=channel,
            ts="",
            posted_at=self.clock.now(),
            late_by=late_by,
        )
        text, body = checklist_blocks.checklist(incident, posted, overdue, mention)
        what = f"The “{spec.title}” checklist"
        ts = await self._post(incident, what, job, channel, text, body)
        if ts is not None:
            await self.book.record_posted(posted.model_copy(update={"ts": ts}))

    async def _remind_ack(self, job: Job, late_by: float) -> None:
        incident = await self._incident(job)
        if incident is None or incident.acknowledged_at is not None:
            return
        channel = _channel(incident)
        text, body = checklist_blocks.ack_reminder(incident, late_by)
        await self._post(incident, "The acknowledgement reminder", job, channel, text, body)

    async def _escalate(self, job: Job, late_by: float) -> None:
        incident = await self._incident(job)
        if incident is None or incident.acknowledged_at is not None:
            return
        channel = _channel(incident)
        group = self.policy.oncall.get(incident.severity)
        waited = self.clock.now().timestamp() - incident.created_at.timestamp()
        sev = incident.severity.value
        text = messages.escalation(incident.id, sev, group, waited)
        body = checklist_blocks.escalation(incident, text)
        posted = await self._post(incident, "The escalation", job, channel, text, body)
        if posted is None:
            return
        entry = TimelineEntry(at=self.clock.now(), actor=ACTOR, kind="escalation", text=text)
        await self.store.append_once(incident.id, f"escalation:{job.due!r}", entry)
        if self.broadcast_channel:
            notice = messages.escalation_broadcast(incident.id, sev, incident.channel_id)
            await self._deliver(
                incident,
                "The escalation notice",
                job,
                partial(self._broadcast, f"{_occurrence(job)}:broadcast", notice),
            )

    async def _broadcast(self, key: str, text: str) -> str:
        assert self.broadcast_channel is not None
        try:
            return await self.posts.once(key, self.broadcast_channel, text)
        except SlackRejected as exc:
            if exc.code != "not_in_channel":
                raise
            await self.slack.join(self.broadcast_channel)
            return await self.posts.once(key, self.broadcast_channel, text)

    async def _remind_update(self, job: Job, late_by: float) -> None:
        incident = await self._incident(job)
        if incident is None:
            return
        every = self.policy.update_every.get(incident.severity)
        snooze = await self._snoozed_until(incident.id)
        if every is None or isinstance(snooze, str):
            return
        now = self.clock.now().timestamp()
        if snooze is not None and snooze > now:
            await self._schedule(incident, UPDATE_REMINDER, snooze)
            return
        base = (incident.last_update_at or incident.created_at).timestamp()
        interval = every.total_seconds()
        if now < base + interval:
            await self._schedule(incident, UPDATE_REMINDER, base + interval)
            return
        channel = _channel(incident)
        text, body = checklist_blocks.update_reminder(incident, now - base)
        posted = await self._post(incident, "The status-update reminder", job, channel, text, body)
        if posted is not None:
            await self._schedule(incident, UPDATE_REMINDER, now + interval)

    async def _post(
        self,
        incident: Incident,
        what: str,
        job: Job,
        channel: str,
        text: str,
        body: Blocks | None = None,
    ) -> str | None:
        """The job's message, posted once however often the job runs (`bot.posts`)."""
        post = partial(self.posts.once, _occurrence(job), channel, text, body)
        return await self._deliver(incident, what, job, post)

    async def _deliver(
        self, incident: Incident, what: str, job: Job, call: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Run a Slack call for a job; a permanent refusal is recorded, not raised."""
        try:
            return await call()
        except PermanentError as exc:
            code = exc.code if isinstance(exc, SlackRejected) else type(exc).__name__
            await self._record_failure(incident, what, code, job)
            return None

    async def _record_failure(self, incident: Incident, what: str, code: str, job: Job) -> None:
        text = messages.undeliverable(what, code, incident.channel_id)
        dm = code not in {"invalid_auth", "token_revoked"}  # Slack would refuse the DM too
        await self._tell_failure(incident, text, job, dm=dm)

    async def _tell_failure(self, incident: Incident, text: str, job: Job, *, dm: bool) -> None:
        """On the timeline once per run, and by DM to the commander when `dm`."""
        log.warning("%s: job %s: %s", incident.id, job.id, text)
        entry = TimelineEntry(at=self.clock.now(), actor=ACTOR, kind="undeliverable", text=text)
        first = await self.store.append_once(
            incident.id, f"undeliverable:{job.id}:{job.due!r}", entry
        )
        if first and incident.commander and dm:
            try:
                await self.slack.post_message(incident.commander, text)
            except FirelineError as exc:
                log.warning("could not tell the commander of %s: %s", incident.id, exc)

    async def _gave_up(self, job: Job, failure: Failure) -> None:
        incident = await self._incident(job)
        if incident is None:
            return
        what = f"A scheduled {job.kind}"
        if failure.unexpected:
            text = messages.job_failed(what, failure.ref, incident.channel_id)
        else:
            reason = str(failure.error)
            text = messages.job_gave_up(what, failure.attempts, reason, incident.channel_id)
        await self._tell_failure(incident, text, job, dm=True)

    # --- what responders do with them --------------------------------------------------------

    async def answer(
        self, incident_id: str, minutes: int, item: int, user: str, kind: AnswerKind
    ) -> Reply:
        """Tick or mark N/A an item: recorded once, before the ack; the message is edited after."""
        posted = await self.book.get(incident_id, minutes)
        if posted is None or not 1 <= item <= len(posted.spec.items):
            raise UserError(messages.checklist_unknown())
        text = posted.spec.items[item - 1]
        now = self.clock.now()
        entry = TimelineEntry(
            at=now,
            actor=user,
            kind="checklist",
            text=messages.checklist_answered(incident_id, posted.spec.title, text, kind, user),
        )
        answer = Answer(item=item, kind=kind, user=user, at=now)
        recorded, created = await self.book.answer(incident_id, minutes, answer, entry)
        later = partial(self.render_checklist, incident_id, minutes)
        if not created:
            said = messages.checklist_already_answered(text, recorded.kind, recorded.user)
            return Reply(text=said, later=later)
        return Reply(text=messages.checklist_thanks(text, kind), later=later)

    async def render_checklist(self, incident_id: str, minutes: int) -> None:
        """Edit the checklist message in place to show every answer recorded so far."""
        async with self.store.lock(f"checklist:{incident_id}:{minutes}") as held:
            if not held:
                return
            incident = await self.store.get(incident_id)
            posted = await self.book.get(incident_id, minutes)
            if posted is None:
                return
            earlier = [c for c in await self.book.all(incident_id) if c.spec.minutes < minutes]
            overdue = [(c, n, text) for c in earlier for n, text in c.open_items()]
            mention = (
                incident.commander if overdue and mentions_commander(incident.severity) else None
            )
            text, body = checklist_blocks.checklist(incident, posted, overdue, mention)
            await self.slack.update_message(posted.channel, posted.ts, text, body)
        return None

    async def snooze(
        self, incident_id: str, user: str, choice: str, channel: str | None, ts: str | None
    ) -> Reply:
        if choice not in SNOOZES:
            raise UserError(messages.checklist_unknown())
        incident = await self.store.get(incident_id)
        seconds = SNOOZES[choice]
        now = self.clock.now()
        until = "resolved" if seconds is None else repr(now.timestamp() + seconds)
        await self.store.snooze_updates(incident_id, until)
        text = messages.snoozed(incident_id, user, choice)
        entry = TimelineEntry(at=now, actor=user, kind="snooze", text=text)
        await self.store.mutate(incident_id, lambda i: (i, [entry]), bump=False)
        if seconds is None:
            await self.scheduler.cancel(job_id(incident_id, UPDATE_REMINDER))
        else:
            await self._schedule(incident, UPDATE_REMINDER, now.timestamp() + seconds)

        async def edit() -> str | None:
            if channel and ts:
                fallback, body = checklist_blocks.snoozed(incident, user, choice)
                await self.slack.update_message(channel, ts, fallback, body)
            return None

        return Reply(text=text, later=edit)

    async def _snoozed_until(self, incident_id: str) -> float | str | None:
        value = await self.store.updates_snoozed_until(incident_id)
        if value is None:
            return None
        return "resolved" if value == "resolved" else float(value)

    async def checklists_for_report(self, incident_id: str) -> list[PostedChecklist]:
        return await self.book.all(incident_id)


def _channel(incident: Incident) -> str:
    if not incident.channel_id:
        raise Unavailable(f"{incident.id} has no channel yet")
    return incident.channel_id
