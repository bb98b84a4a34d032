"""Buttons, menus and the forms they open: a button's value is a request, never an authority.

Each click is checked against the record and the place it was clicked before anything else:
an incident's buttons (card, checklists, reminders) act only on the incident of the channel they
were clicked in, and an alert's buttons only on the alert group whose message they are on. A
value naming anything else is refused, recorded, and changes nothing. Then the clicker is
checked against the policy like a typed command (the operations do that), and forms are checked
before they open, so nobody types an update they may not post.
"""

from __future__ import annotations

from bot import blockkit
from bot.alerts.service import declare_form
from bot.alerts.store import AlertGroup
from bot.checklists.models import AnswerKind
from bot.checklists.service import Followups
from bot.checklists.views import parse_item_value
from bot.commands.operations import IncidentOperations
from bot.errors import UsageError, UserError
from bot.incident import Incident, Role, Severity
from bot.incidents import views as blocks
from bot.interaction import Click, Reply
from bot.policy import messages as policy_messages
from bot.policy.incidents import Verb

MAX_SHOWN_ID = 24
"""How much of a value's incident or group ID a refusal repeats (the rest is not ours)."""


def bad_value() -> UsageError:
    return UsageError("That button does not carry anything Fireline understands; nothing changed.")


class ClickOperations(IncidentOperations):
    checklists: Followups | None = None
    """Checklist answers and reminder snoozes (set by the dispatcher's maker)."""

    # --- where a click may act -------------------------------------------------------------

    async def clicked(self, named: str, click: Click, what: str) -> Incident:
        """The incident a click on an incident's message acts on: the one of the channel it
        was clicked in, and only if that is the one the button names."""
        here = await self.store.find_by_channel(click.channel)
        if here is None or here.id != named:
            await self.authority.refuse(
                click.user,
                what,
                here.id if here else None,
                policy_messages.not_this_incident(named[:MAX_SHOWN_ID], here.id if here else None),
            )
        assert here is not None
        return here

    async def clicked_group(self, group_id: str, click: Click, what: str) -> AlertGroup:
        """The alert group whose message was clicked, if it is the one the button names."""
        if self.alerts is None:
            raise UserError("Alerts are not available in this Fireline.")
        group = await self.alerts.alerts.get_group(group_id[:64])
        if group is None or group.parent_ts is None:
            raise UserError("Fireline no longer knows that alert group; nothing changed.")
        if group.channel != click.channel or group.parent_ts != click.message_ts:
            await self.authority.refuse(
                click.user,
                what,
                None,
                policy_messages.not_this_alert(group_id[:MAX_SHOWN_ID]),
            )
        return group

    # --- the incident card -------------------------------------------------------------------

    async def acknowledge_click(self, click: Click, value: str) -> Reply:
        incident = await self.clicked(value, click, "incident.acknowledge")
        return await self.acknowledge(incident.id, click.user)

    async def take_command(self, click: Click, value: str) -> Reply:
        incident = await self.clicked(value, click, "incident.command")
        return await self.assign(incident.id, click.user, Role.COMMANDER, click.user)

    async def severity_click(self, click: Click, value: str) -> Reply:
        named, _, chosen = value.partition("|")
        try:
            severity = Severity(chosen)
        except ValueError:
            raise bad_value() from None
        incident = await self.clicked(named, click, "incident.severity")
        return await self.set_severity(incident.id, click.user, severity)

    async def update_form(self, click: Click, value: str) -> Reply:
        incident = await self.clicked(value, click, "incident.update")
        await self.authority.require(click.user, Verb.UPDATE, incident.id)
        view = blocks.text_modal(
            blockkit.UPDATE_VIEW,
            incident,
            "Post an update",
            "What changed, what is next",
            "Post",
            optional=False,
        )
        return Reply(view=view)

    async def resolve_form(self, click: Click, value: str) -> Reply:
        incident = await self.clicked(value, click, "incident.resolve")
        await self.authority.require(click.user, Verb.RESOLVE, incident.id)
        view = blocks.text_modal(
            blockkit.RESOLVE_VIEW,
            incident,
            "Resolve incident",
            "Summary: what happened, what fixed it",
            "Resolve",
            optional=True,
        )
        return Reply(view=view)

    # --- checklists and reminders ------------------------------------------------------------

    async def answer_checklist(self, click: Click, value: str, kind: AnswerKind) -> Reply:
        try:
            named, minutes, item = parse_item_value(value)
        except ValueError:
            raise bad_value() from None
        incident = await self.clicked(named, click, "incident.update")
        await self.authority.require(click.user, Verb.UPDATE, incident.id)
        assert self.checklists is not None
        return await self.checklists.answer(incident.id, minutes, item, click.user, kind)

    async def snooze(self, click: Click, value: str) -> Reply:
        named, _, choice = value.partition("|")
        incident = await self.clicked(named, click, "incident.update")
        await self.authority.require(click.user, Verb.UPDATE, incident.id)
        assert self.checklists is not None
        return await self.checklists.snooze(
            incident.id, click.user, choice, click.channel, click.message_ts
        )

    # --- a 📌 reaction -----------------------------------------------------------------------

    async def pin(self, channel: str, ts: str, user: str) -> bool:
        """A 📌 in an incident channel puts the message on the timeline, for those who may
        update the incident; anyone else is told why, only them."""
        incident = await self.store.find_by_channel(channel)
        if incident is None:
            return False
        try:
            await self.authority.require(user, Verb.UPDATE, incident.id)
        except UserError as exc:
            await self.incidents.slack.post_ephemeral(channel, user, str(exc))
            return False
        return await self.incidents.record_pin(channel, ts, user)

    # --- an alert's parent message -------------------------------------------------------------

    async def acknowledge_alert(self, click: Click, group_id: str) -> bool:
        """First acknowledgement wins; False if someone had already acknowledged."""
        group = await self.clicked_group(group_id, click, "alert.acknowledge")
        await self.authority.require(click.user, Verb.ACKNOWLEDGE, group.incident_id)
        assert self.alerts is not None
        return await self.alerts.acknowledge(group.group_id, click.user)

    async def declare_from_alert(self, click: Click, group_id: str) -> Reply:
        group = await self.clicked_group(group_id, click, "incident.declare")
        await self.authority.require(click.user, Verb.DECLARE)
        assert self.alerts is not None
        return Reply(view=await declare_form(self.alerts, group.group_id, click.channel))
