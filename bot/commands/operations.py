"""What a change to an incident does, wherever it was asked for: a subcommand, a button, a form.

Every change first asks the policy (`Authority.require`, the `incidents:` section): a person
who may not is refused before anything is written, told which roles would allow it and who holds
them, and the attempt is recorded on the audit stream (not on the incident's timeline). Holding
the commander role is a right of its own (`incidents.command`): taking command needs it, and so
does being assigned it or keeping it after declaring.

Each operation returns a `Reply`: what to say in the ack (decided within Slack's 3 seconds;
for changes, the Redis write happens before it, so "done" means saved), an optional `save`
run straight after the ack (declare: acked at once as "Declaring …", recorded right after,
so a burst of declares is acked as fast as Slack's floor allows), and an optional `later`
for the Slack work that follows (channel, card edits, broadcasts), whose result is told to the
user ephemerally.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from bot import incident as model
from bot import messages as shared
from bot.alerts.service import AlertThreads
from bot.commands import messages
from bot.errors import ConfigurationError, FirelineError, TemporaryError, UsageError
from bot.incident import Incident, Role, Severity, TimelineEntry
from bot.incidents.service import Declared, IncidentService
from bot.interaction import Actor, Later, Reply
from bot.policy.authority import Authority
from bot.policy.incidents import Verb

log = logging.getLogger(__name__)


class LifecycleHooks(Protocol):
    """Told of every declaration and recorded change (before the ack: Redis work only)."""

    async def declared(self, incident: Incident) -> None: ...

    async def changed(self, incident: Incident, entries: list[TimelineEntry]) -> None: ...


class IncidentOperations:
    """Declaring and changing incidents; `Dispatcher` routes subcommands, buttons and forms here."""

    def __init__(
        self,
        incidents: IncidentService,
        alerts: AlertThreads | None = None,
        hooks: LifecycleHooks | None = None,
        authority: Authority | None = None,
    ) -> None:
        self.incidents = incidents
        self.alerts = alerts
        self.hooks = hooks
        self.store = incidents.store
        self.clock = incidents.clock
        self._authority = authority

    @property
    def authority(self) -> Authority:
        """The policy's say on incident changes; a router built without one changes nothing."""
        if self._authority is None:
            raise ConfigurationError("this Fireline was built without an authority")
        return self._authority

    async def declare(
        self,
        actor: Actor,
        *,
        title: str,
        severity: Severity,
        defaulted: bool,
        request_key: str,
        service: str | None = None,
        description: str | None = None,
        commander: str | None = None,
        alert_group: str | None = None,
    ) -> Reply:
        if not title.strip():
            raise UsageError(messages.missing_title(severity.value))
        await self.authority.require(actor.user, Verb.DECLARE)
        if commander:
            await self.authority.require_commander(actor.user, commander, None)
        elif await self.authority.may(actor.user, Verb.COMMAND):
            commander = actor.user
        # Otherwise the reporter may not hold command: the incident starts without a
        # commander, for one who may to take it.
        # Declaring counts as acknowledging when the declarer takes command; an incident handed
        # to someone else waits for their acknowledgement (reminded, then escalated), so the
        # card never says "Acknowledged" while the person named in charge has not seen it.
        acknowledged = (
            self.incidents.declare_acknowledges
            and commander in (None, actor.user)
            and await self.authority.may(actor.user, Verb.ACKNOWLEDGE)
        )
        recorded: list[Declared] = []

        async def save() -> None:
            try:
                declared = await self.incidents.declare(
                    request_key=request_key,
                    reporter=actor.user,
                    title=title,
                    severity=severity,
                    origin_channel=actor.channel,
                    service=service,
                    description=description,
                    commander=commander,
                    reporter_commands=False,
                    acknowledged=acknowledged,
                )
            except TemporaryError as lost:  # it may be recorded all the same: find out
                unconfirmed = messages.declare_unconfirmed(title)
                declared = await self.incidents.settle_declare(request_key, lost, unconfirmed)
            recorded.append(declared)
            if declared.created and self.hooks:
                try:
                    await self.hooks.declared(declared.incident)
                except FirelineError as exc:  # recorded: the person is told so regardless
                    log.warning(
                        "%s: its follow-ups were not scheduled: %s", declared.incident.id, exc
                    )

        async def later() -> str:
            incident = recorded[0].incident
            if not recorded[0].created:
                if not incident.provisioned:  # its first delivery's worker may have died
                    with contextlib.suppress(FirelineError):  # else the repair finishes it
                        incident = await self.incidents.provision(incident.id)
                return messages.already_declared(incident.id, incident.channel_id)
            return await self._provision(incident.id, defaulted, alert_group)

        return Reply(
            text=messages.declaring(title, severity.value, defaulted), save=save, later=later
        )

    async def _provision(self, incident_id: str, defaulted: bool, alert_group: str | None) -> str:
        try:
            incident = await self.incidents.provision(incident_id)
            if alert_group and self.alerts is not None:
                await self.alerts.link_incident(alert_group, incident)
        except FirelineError as exc:
            return shared.declare_incomplete(
                incident_id, f"Slack did not finish setting it up ({exc})"
            )
        assert incident.channel_id is not None
        return messages.declared(
            incident.id, incident.channel_id, incident.severity.value, defaulted
        )

    async def _change(
        self,
        incident_id: str,
        change: Callable[[Incident], model.Change],
        *,
        done: str,
        unchanged: str,
        after: Later | None = None,
    ) -> Reply:
        incident, entries = await self.store.mutate(incident_id, change)
        if not entries:
            return Reply(text=messages.nothing_changed(incident_id, unchanged))
        if self.hooks:
            await self.hooks.changed(incident, entries)

        async def publish() -> str | None:
            await self.incidents.refresh_quietly(incident_id)
            return await after() if after else None

        return Reply(text=messages.done(incident_id, done), later=publish)

    async def acknowledge(self, incident_id: str, user: str) -> Reply:
        await self.authority.require(user, Verb.ACKNOWLEDGE, incident_id)
        return await self._change(
            incident_id,
            lambda i: model.acknowledge(i, user, self.clock.now()),
            done="acknowledged — thank you",
            unchanged="was acknowledged",
        )

    async def set_severity(self, incident_id: str, user: str, severity: Severity) -> Reply:
        await self.authority.require(user, Verb.SEVERITY, incident_id)
        was: list[Severity] = []  # the grade the applied change replaced

        def change(incident: Incident) -> model.Change:
            was.append(incident.severity)
            return model.change_severity(incident, user, severity, self.clock.now())

        async def announce() -> str | None:
            if severity.worse(was[-1]) is not severity:
                return None  # lowered: the card and the announcement say so
            missed = await self.incidents.announce_raised(incident_id, was[-1], user)
            return messages.not_said(missed) if missed else None

        return await self._change(
            incident_id,
            change,
            done=f"severity is now {severity.value}",
            unchanged=f"is {severity.value}",
            after=announce,
        )

    async def assign(self, incident_id: str, user: str, role: Role, assignee: str) -> Reply:
        """Set an incident role. Taking command oneself needs `command`; anything else needs
        `assign`, and the commander role also needs the assignee to be one who may hold it."""
        if role is Role.COMMANDER and assignee == user:
            await self.authority.require(user, Verb.COMMAND, incident_id)
        else:
            await self.authority.require(user, Verb.ASSIGN, incident_id)
            if role is Role.COMMANDER:
                await self.authority.require_commander(user, assignee, incident_id)

        replaced: list[str | None] = []  # who held the role before the applied change

        def change(incident: Incident) -> model.Change:
            replaced.append(incident.roles.get(role))
            return model.assign(incident, user, role, assignee, self.clock.now())

        async def invite() -> None:
            incident = await self.store.get(incident_id)
            if incident.channel_id:
                await self.incidents.slack.invite(incident.channel_id, [assignee])
            previous = replaced[-1]
            if role is Role.COMMANDER and previous and previous not in (user, assignee):
                await self.incidents.tell_replaced_commander(incident_id, previous, user)
            return None

        return await self._change(
            incident_id,
            change,
            done=f"<@{assignee}> is now {role.value}",
            unchanged=f"has <@{assignee}> as {role.value}",
            after=invite,
        )

    async def status_update(self, incident_id: str, user: str, text: str) -> Reply:
        await self.authority.require(user, Verb.UPDATE, incident_id)

        async def post() -> str | None:
            incident = await self.store.get(incident_id)
            missed = await self.incidents.post_update(incident, user, text)
            if missed:
                return (
                    f"Your update is in the timeline, but could not be posted in "
                    f"{', '.join(missed)}. Try `/incident update` again later."
                )
            return None

        return await self._change(
            incident_id,
            lambda i: model.post_update(i, user, text, self.clock.now()),
            done="update posted",
            unchanged="has that update",
            after=post,
        )

    async def add_note(self, incident_id: str, user: str, text: str) -> Reply:
        await self.authority.require(user, Verb.UPDATE, incident_id)
        await self.store.mutate(
            incident_id, lambda i: model.add_note(i, user, text, self.clock.now())
        )
        return Reply(text=messages.done(incident_id, "note added to the timeline"))

    async def add_followup(self, incident_id: str, user: str, text: str) -> Reply:
        await self.authority.require(user, Verb.UPDATE, incident_id)
        await self.store.mutate(
            incident_id, lambda i: model.add_followup(i, user, text, self.clock.now())
        )
        return Reply(text=messages.done(incident_id, "action item added to the report"))

    async def upload_report(self, incident_id: str, user: str) -> Reply:
        await self.authority.require(user, Verb.UPDATE, incident_id)

        async def upload() -> str:
            await self.incidents.upload_report(incident_id)
            return messages.report_posted(incident_id)

        return Reply(text=messages.writing_report(incident_id), later=upload)

    async def mitigate(self, incident_id: str, user: str) -> Reply:
        await self.authority.require(user, Verb.RESOLVE, incident_id)
        return await self._change(
            incident_id,
            lambda i: model.mitigate(i, user, self.clock.now()),
            done="marked mitigated",
            unchanged="is mitigated",
        )

    async def resolve(self, incident_id: str, user: str, summary: str | None) -> Reply:
        await self.authority.require(user, Verb.RESOLVE, incident_id)

        async def report() -> str | None:
            await self.incidents.upload_report_once(incident_id)
            return None

        return await self._change(
            incident_id,
            lambda i: model.resolve(i, user, summary, self.clock.now()),
            done="resolved; the post-incident report follows in the channel",
            unchanged="is resolved",
            after=report,
        )
