"""The router: each `/incident` subcommand, from its one table entry to the feature that does it.

`Dispatcher.subcommands` is the table (name, usage, summary, aliases, argument parser, handler);
`parse()`, `help` and `command()` all read it, so adding a subcommand is adding an entry (and
its handler method). Actions typed as subcommands go to diagnostics or remediation. Buttons
and forms call the operations (`bot.commands.operations`) directly. Every entry point returns
a `Reply` (see `bot.interaction`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import messages as shared
from bot.alerts.service import AlertThreads
from bot.commands import messages, parser
from bot.commands.clicks import ClickOperations
from bot.commands.operations import LifecycleHooks
from bot.commands.parser import Command, OnIncident, Subcommand, Subcommands
from bot.errors import UsageError
from bot.incident import DEFAULT_SEVERITY, Incident
from bot.incidents import views as blocks
from bot.incidents.service import IncidentService
from bot.interaction import Actor, Reply
from bot.policy.authority import Authority

if TYPE_CHECKING:
    from bot.checklists.service import Followups
    from bot.diagnostics.service import DiagnosticsService
    from bot.playbooks.runner import PlaybookRunner
    from bot.remediation.service import RemediationService


class Dispatcher(ClickOperations):
    def __init__(
        self,
        incidents: IncidentService,
        alerts: AlertThreads | None = None,
        hooks: LifecycleHooks | None = None,
        diagnostics: DiagnosticsService | None = None,
        remediation: RemediationService | None = None,
        playbooks: PlaybookRunner | None = None,
        authority: Authority | None = None,
        checklists: Followups | None = None,
    ) -> None:
        super().__init__(incidents, alerts, hooks, authority)
        self.checklists = checklists
        self.diagnostics = diagnostics
        self.remediation = remediation
        self.playbooks = playbooks
        self.subcommands = self._subcommands()
        """The one table of `/incident` subcommands: parsing, `help` and `command()` read it."""

    def _subcommands(self) -> Subcommands:
        return Subcommands(
            Subcommand(
                "declare",
                "declare [P0|P1|P2|P3] <title>",
                "declare an incident (no title: a form)",
                self._cmd_declare,
                parse=parser.declare,
            ),
            Subcommand(
                "ack",
                "ack",
                "acknowledge: someone is on it",
                OnIncident(self._cmd_ack),
                aliases=("acknowledge",),
            ),
            Subcommand(
                "severity",
                "severity <P0|P1|P2|P3>",
                "change the severity",
                OnIncident(self._cmd_severity),
                parse=parser.severity,
                aliases=("sev",),
            ),
            Subcommand(
                "assign",
                "assign <commander|comms|scribe> @person",
                "give someone a role",
                OnIncident(self._cmd_assign),
                parse=parser.assign,
            ),
            Subcommand(
                "update",
                "update <text>",
                "post a status update (here and in the broadcast channel)",
                OnIncident(self._cmd_update),
                parse=parser.text(required=True),
            ),
            Subcommand(
                "note",
                "note <text>",
                "add a note to the timeline",
                OnIncident(self._cmd_note),
                parse=parser.text(required=True),
            ),
            Subcommand(
                "followup",
                "followup <text>",
                "add an action item to the report",
                OnIncident(self._cmd_followup),
                parse=parser.text(required=True),
                aliases=("follow-up", "action"),
            ),
            Subcommand(
                "mitigated",
                "mitigated",
                "impact has stopped; root cause may remain",
                OnIncident(self._cmd_mitigated),
                aliases=("mitigate",),
            ),
            Subcommand(
                "resolve",
                "resolve [summary]",
                "resolve and post the report",
                OnIncident(self._cmd_resolve),
                parse=parser.text(required=False),
                aliases=("resolved", "close"),
            ),
            Subcommand(
                "status", "status", "show the incident's summary", OnIncident(self._cmd_status)
            ),
            Subcommand("timeline", "timeline", "show the timeline", OnIncident(self._cmd_timeline)),
            Subcommand(
                "report", "report", "upload the post-incident report", OnIncident(self._cmd_report)
            ),
            Subcommand(
                "list", "list", "open incidents, everywhere", self._cmd_list, aliases=("ls",)
            ),
            Subcommand(
                "playbook",
                "playbook [name] [target] [-n namespace]",
                "list the playbooks, or run one: its diagnostics, then what to do",
                self._cmd_playbook,
                parse=parser.text(required=False),
                aliases=("playbooks", "runbook"),
            ),
            Subcommand(
                "help",
                "help [command]",
                "this list; one command explained",
                self._cmd_help,
                parse=parser.topic,
            ),
        )

    # --- slash command ---------------------------------------------------------------------

    @property
    def action_names(self) -> list[str]:
        names = list(self.diagnostics.actions) if self.diagnostics else []
        return names + (list(self.remediation.actions) if self.remediation else [])

    def parse(self, text: str) -> Command:
        """`/incident …` text → a `Command` (or a `UsageError` saying what to type instead)."""
        return self.subcommands.parse(text, self.action_names)

    async def command(self, cmd: Command, actor: Actor) -> Reply:
        if cmd.action and self.remediation and cmd.name in self.remediation.actions:
            return await self.remediation.command(cmd.name, cmd.text or "", actor)
        if cmd.action and self.diagnostics is not None:
            return await self.diagnostics.command(cmd.name, cmd.text or "", actor)
        spec = self.subcommands[cmd.name]
        if not isinstance(spec.handler, OnIncident):
            return await spec.handler(cmd, actor)
        if not await self.store.claim("trigger", actor.trigger_id, ttl=3600):
            return Reply(text=shared.delivered_twice())
        incident = await self.incidents.resolve_target(cmd.incident_id, actor.channel, spec.usage)
        return await spec.handler.handler(cmd, actor, incident)

    async def _cmd_help(self, cmd: Command, actor: Actor) -> Reply:
        """The list (each action by its first clause), or one command explained in full."""
        actions: list[Any] = list(self.diagnostics.actions.values()) if self.diagnostics else []
        if self.remediation:
            actions += list(self.remediation.actions.values())
        asked = (cmd.text or "").strip().lower().removeprefix("/incident ").strip()
        if asked:
            for action in actions:
                if action.name == asked:
                    return Reply(text=messages.one_command(action.usage, action.help()))
            for spec in self.subcommands:
                if asked == spec.name or asked in spec.aliases:
                    return Reply(text=messages.one_command(spec.usage, spec.summary))
            close = self.subcommands.suggest(asked, [a.name for a in actions])
            raise UsageError(messages.unknown_subcommand(asked, close and f"help {close}"))
        listed = [(a.usage, messages.first_clause(a.help())) for a in actions]
        return Reply(text=messages.usage(self.subcommands, listed))

    async def _cmd_playbook(self, cmd: Command, actor: Actor) -> Reply:
        if self.playbooks is None:
            return Reply(text=messages.no_playbooks())
        return await self.playbooks.command(cmd.text or "", actor)

    async def _cmd_list(self, cmd: Command, actor: Actor) -> Reply:
        incidents = await self.store.list_incidents(open_only=True)
        return Reply(
            text=blocks.incident_list(incidents) if incidents else messages.no_open_incidents()
        )

    async def _cmd_declare(self, cmd: Command, actor: Actor) -> Reply:
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
        return await self.add_note(incident.id, actor.user, cmd.text)

    async def _cmd_followup(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        assert cmd.text is not None
        return await self.add_followup(incident.id, actor.user, cmd.text)

    async def _cmd_mitigated(self, cmd: Command, actor: Actor, incident: Incident) -> Reply:
        return await self.mitigate(incident.id, actor.user)

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
        return await self.upload_report(incident.id, actor.user)
