"""What each `/incident` subcommand, button and form does, independent of how Slack delivered it.

Every entry point returns a `Reply`: what to say in the ack (decided within Slack's 3 seconds;
for changes, the Redis write happens before it, so "done" means saved), an optional `save`
run straight after the ack (declare: acked at once as "Declaring …", recorded right after,
so a burst of declares is acked as fast as Slack's floor allows), and an optional `later`
for the Slack work that follows (channel, card edits, broadcasts), whose result is told to the
user ephemerally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from bot import incident as model
from bot import messages as shared
from bot.alerts.service import AlertThreads
from bot.commands import messages
from bot.commands.parser import SUBCOMMANDS, Command
from bot.errors import FirelineError, UsageError
from bot.incident import DEFAULT_SEVERITY, Incident, Role, Severity, TimelineEntry
from bot.incidents import views as blocks
from bot.incidents.service import Declared, IncidentService
from bot.interaction import Actor, Later, Reply

if TYPE_CHECKING:
    from bot.diagnostics.service import DiagnosticsService
    from bot.playbooks.runner import PlaybookRunner
    from bot.remediation.service import RemediationService

IncidentCommand = Callable[[Command, Actor, Incident], Awaitable[Reply]]


class LifecycleHooks(Protocol):
    """Told of every declaration and recorded change (before the ack: Redis work only)."""

    async def declared(self, incident: Incident) -> None: ...

    async def changed(self, incident: Incident, entries: list[TimelineEntry]) -> None: ...


class Dispatcher:
    def __init__(
        self,
        incidents: IncidentService,
        alerts: AlertThreads | None = None,
        hooks: LifecycleHooks | None = None,
        diagnostics: DiagnosticsService | None = None,
        remediation: RemediationService | None = None,
        playbooks: PlaybookRunner | None = None,
    ) -> None:
        self.incidents = incidents
        self.alerts = alerts
        self.hooks = hooks
        self.diagnostics = diagnostics
        self.remediation = remediation
        self.playbooks = playbooks
        self.store = incidents.store
        self.clock = incidents.clock
        # Every subcommand about one incident, explicitly (the parser's table lists them all).
        self._by_incident: dict[str, IncidentCommand] = {
            "ack": self._cmd_ack,
            "severity": self._cmd_severity,
            "assign": self._cmd_assign,
            "update": self._cmd_update,
            "note": self._cmd_note,
            "followup": self._cmd_followup,
            "mitigated": self._cmd_mitigated,
            "resolve": self._cmd_resolve,
            "status": self._cmd_status,
            "timeline": self._cmd_timeline,
            "report": self._cmd_report,
        }

    # --- slash command ---------------------------------------------------------------------

    @property
    def action_names(self) -> list[str]:
        names = list(self.diagnostics.actions) if self.diagnostics else []
        return names + (list(self.remediation.actions) if self.remediation else [])

    async def command(self, cmd: Command, actor: Actor) -> Reply:
        if cmd.action and self.remediation and cmd.name in self.remediation.actions:
            return await self.remediation.command(cmd.name, cmd.text or "", actor)
        if cmd.action and self.diagnostics is not None:
            return await self.diagnostics.command(cmd.name, cmd.text or "", actor)
        if cmd.name == "help":
            actions: list[Any] = list(self.diagnostics.actions.values()) if self.diagnostics else []
            if self.remediation:
                actions += list(self.remediation.actions.values())
            return Reply(text=messages.usage(SUBCOMMANDS, [(a.usage, a.help()) for a in actions]))
        if cmd.name == "declare":
            return await self._declare_command(cmd, actor)
        if cmd.name == "playbook":
            if self.playbooks is None:
                return Reply(text=messages.no_playbooks())
            return await self.playbooks.command(cmd.text or "", actor)
        if cmd.name == "list":
            incidents = await self.store.list_incidents(open_only=True)
            return Reply(
                text=blocks.incident_list(incidents) if incidents else messages.no_open_incidents()
            )
        if not await self.store.claim("trigger", actor.trigger_id, ttl=3600):
            return Reply(text=shared.delivered_twice())
        incident = await self.incidents.resolve_target(
            cmd.incident_id, actor.channel, cmd.spec.usage
        )
        return await self._by_incident[cmd.name](cmd, actor, incident)

    async def _declare_command(self, cmd: Command, actor: Actor) -> Reply:
        if cmd.text is None:
            return Reply(view=blocks.declare_modal(actor.channel))
        severity = cmd.severity or DEFAULT_SEVERITY
        return await self.declare(
            actor,
            title=cmd.text,
            severity=severity,
            defaulted=not cmd.severity_given,
            request_key=actor.trigger_id,
        )

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
        recorded: list[Declared] = []

        async def save() -> None:
            recorded.append(
                await self.incidents.declare(
                    request_key=request_key,
                    reporter=actor.user,
                    title=title,
                    severity=severity,
                    origin_channel=actor.channel,
                    service=service,
                    description=description,
                    commander=commander,
                )
            )
            if recorded[0].created and self.hooks:
                await self.hooks.declared(recorded[0].incident)

        async def later() -> str:
            incident = recorded[0].incident
            if not recorded[0].created:
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

    async def _cmd_ack(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        return await self.acknowledge(incident.id, actor.user)

    async def _cmd_severity(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.severity is not None
        return await self.set_severity(incident.id, actor.user, cmd.severity)

    async def _cmd_assign(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.role is not None and cmd.user is not None
        return await self.assign(incident.id, actor.user, cmd.role, cmd.user)

    async def _cmd_update(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.text is not None
        return await self.status_update(incident.id, actor.user, cmd.text)

    async def _cmd_note(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.text is not None
        text = cmd.text
        await self.store.mutate(
            incident.id, lambda i: model.add_note(i, actor.user, text, self.clock.now())
        )
        return Reply(text=messages.done(incident.id, "note added to the timeline"))

    async def _cmd_followup(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.text is not None
        text = cmd.text
        await self.store.mutate(
            incident.id, lambda i: model.add_followup(i, actor.user, text, self.clock.now())
        )
        return Reply(text=messages.done(incident.id, "action item added to the report"))

    async def _cmd_mitigated(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        return await self._change(
            incident.id,
            lambda i: model.mitigate(i, actor.user, self.clock.now()),
            done="marked mitigated",
            unchanged="is mitigated",
        )

    async def _cmd_resolve(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        return await self.resolve(incident.id, actor.user, cmd.text)

    async def _cmd_status(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        body = blocks.card(incident, self.clock.now())
        body = [b for b in body if b.get("type") != "actions"]
        text = blocks.card_text(incident)
        if incident.provision_error and not incident.provisioned:
            warning = messages.setup_incomplete(incident.provision_error)
            text = f"{text}\n{warning}"
            body.append({"type": "context", "elements": [{"type": "mrkdwn", "text": warning}]})
        return Reply(text=text, blocks=body)

    async def _cmd_timeline(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        entries = await self.store.timeline(incident.id)
        return Reply(text=blocks.timeline_text(incident, entries)[:39000])

    async def _cmd_report(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        async def upload() -> str:
            await self.incidents.upload_report(incident.id)
            return messages.report_posted(incident.id)

        return Reply(text=f"Writing the report for {incident.id} …", later=upload)

    # --- operations shared by commands, buttons and forms ----------------------------------

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
        return await self._change(
            incident_id,
            lambda i: model.acknowledge(i, user, self.clock.now()),
            done="acknowledged — thank you",
            unchanged="was acknowledged",
        )

    async def set_severity(self, incident_id: str, user: str, severity: Severity) -> Reply:
        return await self._change(
            incident_id,
            lambda i: model.change_severity(i, user, severity, self.clock.now()),
            done=f"severity is now {severity.value}",
            unchanged=f"is {severity.value}",
        )

    async def assign(self, incident_id: str, user: str, role: Role, assignee: str) -> Reply:
        async def invite() -> None:
            incident = await self.store.get(incident_id)
            if incident.channel_id:
                await self.incidents.slack.invite(incident.channel_id, [assignee])
            return None

        return await self._change(
            incident_id,
            lambda i: model.assign(i, user, role, assignee, self.clock.now()),
            done=f"<@{assignee}> is now {role.value}",
            unchanged=f"has <@{assignee}> as {role.value}",
            after=invite,
        )

    async def status_update(self, incident_id: str, user: str, text: str) -> Reply:
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

    async def resolve(self, incident_id: str, user: str, summary: str | None) -> Reply:
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
