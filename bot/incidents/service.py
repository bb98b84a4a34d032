"""Incident lifecycle: declare, change, and keep Slack showing what Redis holds.

The order is always: record the change in Redis (atomically, with its timeline entries), then
make Slack show it. Slack steps are idempotent and resumable: each artefact (channel, card,
announcement) is recorded on the incident once made, and `reconcile()` finishes whatever a
crash or a Slack outage left undone, so nothing a responder did is lost or done twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot import messages as shared
from bot.blockkit import section
from bot.checklists.models import ChecklistBook
from bot.clock import Clock
from bot.errors import (
    FirelineError,
    IncidentNotFound,
    UsageError,
)
from bot.gateways.slack import SlackGateway
from bot.incident import (
    Incident,
    Severity,
    declared_entry,
    pinned_entry,
)
from bot.incidents import messages, report
from bot.incidents import views as blocks
from bot.incidents.provision import Provisioner, setting
from bot.store.incidents import new_incident
from bot.store.store import Store

log = logging.getLogger(__name__)

REPAIR_INTERVAL_S = 30.0


@dataclass(frozen=True)
class Declared:
    incident: Incident
    created: bool


class IncidentService:
    """The lifecycle operations handlers call. Owns no Slack request context."""

    def __init__(
        self,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        *,
        channel_prefix: str,
        broadcast_channel: str | None,
        declare_acknowledges: bool = True,
    ) -> None:
        self.store = store
        self.declare_acknowledges = declare_acknowledges
        """Declaring counts as acknowledging (for a declarer the policy lets acknowledge)."""
        self.slack = slack
        self.clock = clock
        self.broadcast_channel = broadcast_channel
        self.provisioner = Provisioner(
            store,
            slack,
            clock,
            channel_prefix=channel_prefix,
            broadcast_channel=broadcast_channel,
        )
        self.checklists: ChecklistBook | None = None
        """Set by the app: the report then lists who answered what on each checklist."""

    @property
    def bot_user_id(self) -> str | None:
        """Fireline's own Slack user (set by the app once Slack said who it is)."""
        return self.provisioner.bot_user_id

    @bot_user_id.setter
    def bot_user_id(self, user_id: str | None) -> None:
        self.provisioner.bot_user_id = user_id

    # --- finding incidents -----------------------------------------------------------------

    async def resolve_target(
        self, incident_id: str | None, channel_id: str, usage: str
    ) -> Incident:
        """The incident a command is about: the ID given, else the channel's own incident."""
        if incident_id:
            return await self.store.get(incident_id)
        incident = await self.store.find_by_channel(channel_id)
        if incident is None:
            raise UsageError(messages.needs_incident(usage))
        return incident

    # --- declaring -------------------------------------------------------------------------

    async def declare(
        self,
        *,
        request_key: str,
        reporter: str,
        title: str,
        severity: Severity,
        origin_channel: str | None,
        service: str | None = None,
        description: str | None = None,
        commander: str | None = None,
        reporter_commands: bool = True,
        acknowledged: bool = False,
    ) -> Declared:
        """Record the incident once per `request_key` (a Slack trigger ID); `acknowledged`:
        the declaration is its acknowledgement too."""
        template = new_incident(
            title=title,
            severity=severity,
            reporter=reporter,
            now=self.clock.now(),
            service=service,
            description=description,
            commander=commander,
            origin_channel=origin_channel,
            reporter_commands=reporter_commands,
            acknowledged=acknowledged,
        )
        incident, created = await self.store.create_incident(
            request_key, template, declared_entry(template)
        )
        return Declared(incident, created)

    async def provision(self, incident_id: str) -> Incident:
        """Create whatever Slack artefacts the incident still lacks. Safe to call repeatedly."""
        async with self.store.lock(f"provision:{incident_id}") as held:
            incident = await self.store.get(incident_id)
            if not held or incident.provisioned:
                return incident
            try:
                incident = await self.provisioner.complete(incident)
            except FirelineError as exc:
                log.warning("provisioning %s stopped: %s", incident_id, exc)
                await self.store.flag(incident_id)
                reason = str(exc)
                await self.store.mutate(
                    incident_id,
                    setting(provision_error=reason),
                    bump=False,
                )
                raise
            incident, _ = await self.store.mutate(
                incident_id, setting(provisioned=True, provision_error=None), bump=False
            )
        await self.refresh_quietly(incident_id)  # the incident is set up; the card catches up
        return await self.store.get(incident_id)

    # --- changing --------------------------------------------------------------------------

    async def refresh_quietly(self, incident_id: str) -> None:
        """Refresh Slack's view; a failure is logged and left for `reconcile()`."""
        try:
            await self.refresh(incident_id)
        except FirelineError as exc:
            log.warning("could not refresh %s in Slack yet: %s", incident_id, exc)
            await self.store.flag(incident_id)

    async def refresh(self, incident_id: str) -> None:
        """Edit the card, topic and announcement in place to show the latest version."""
        async with self.store.lock(f"render:{incident_id}") as held:
            if not held:
                return  # another worker is rendering; it reads the latest version
            incident = await self.store.get(incident_id)
            if not incident.channel_id or not incident.card_ts:
                return
            topic = blocks.topic(incident)
            stale = incident.rendered_version < incident.version
            if not stale and topic == incident.rendered_topic:
                return
            if topic != incident.rendered_topic:
                await self.slack.set_topic(incident.channel_id, topic)
            if not stale:
                await self.store.mutate(incident_id, setting(rendered_topic=topic), bump=False)
                return
            await self.slack.update_message(
                incident.channel_id,
                incident.card_ts,
                blocks.card_text(incident),
                blocks.card(incident, self.clock.now()),
            )
            if incident.announcement_ts and self.broadcast_channel:
                text, body = blocks.announcement(incident)
                await self.slack.update_message(
                    self.broadcast_channel, incident.announcement_ts, text, body
                )
            version = incident.version
            await self.store.mutate(
                incident_id,
                lambda i: (
                    i.model_copy(
                        update={
                            "rendered_version": max(i.rendered_version, version),
                            "rendered_topic": topic,
                        }
                    ),
                    [],
                ),
                bump=False,
            )

    async def post_update(self, incident: Incident, actor: str, text: str) -> list[str]:
        """Post a recorded status update in the channel and the broadcast channel.

        Returns the places it could not be posted (the update is in the timeline regardless).
        """
        fallback, body = blocks.status_update(incident, actor, text)
        missed: list[str] = []
        targets = [incident.channel_id, self.broadcast_channel]
        for target in [t for t in targets if t]:
            try:
                if target == self.broadcast_channel:
                    await self.provisioner.post_in_broadcast(fallback, body)
                else:
                    await self.slack.post_message(target, fallback, body)
            except FirelineError as exc:
                log.warning("update for %s not posted in %s: %s", incident.id, target, exc)
                missed.append(f"<#{target}>")
        return missed

    async def announce_raised(self, incident_id: str, old: Severity, actor: str) -> list[str]:
        """A raised severity said in the incident's channel and the broadcast channel, where
        people look (the card and the announcement are only edited). Returns the places it
        could not be said."""
        incident = await self.store.get(incident_id)
        new = incident.severity
        missed: list[str] = []
        for target in [t for t in (incident.channel_id, self.broadcast_channel) if t]:
            elsewhere = incident.channel_id if target == self.broadcast_channel else None
            text = messages.severity_raised(
                incident.id, incident.title, old.value, new.value, new.meaning, actor, elsewhere
            )
            try:
                if target == self.broadcast_channel:
                    await self.provisioner.post_in_broadcast(text, [section(text)])
                else:
                    await self.slack.post_message(target, text)
            except FirelineError as exc:
                log.warning("%s's new severity not said in %s: %s", incident.id, target, exc)
                missed.append(f"<#{target}>")
        return missed

    async def tell_replaced_commander(self, incident_id: str, previous: str, actor: str) -> None:
        """A direct message to the commander someone else replaced (Slack's DM by user ID)."""
        incident = await self.store.get(incident_id)
        if not incident.commander or incident.commander == previous:
            return
        text = messages.no_longer_commander(
            incident.id, incident.title, incident.commander, actor, incident.channel_id
        )
        try:
            await self.slack.post_message(previous, text)
        except FirelineError as exc:
            log.warning("could not tell %s's previous commander: %s", incident.id, exc)

    async def record_pin(self, channel_id: str, ts: str, actor: str) -> bool:
        """A 📌 reaction in an incident channel: add that message to the timeline, once."""
        incident = await self.store.find_by_channel(channel_id)
        if incident is None:
            return False
        message = await self.slack.message(channel_id, ts)
        if message is None:
            return False
        text = str(message.get("text") or "(message without text)")[:500]
        entry = pinned_entry(actor, message.get("user"), text, self.clock.now())
        return await self.store.append_once(incident.id, f"pin:{channel_id}:{ts}", entry)

    # --- reports ---------------------------------------------------------------------------

    async def render_report(self, incident_id: str) -> tuple[Incident, str]:
        incident = await self.store.get(incident_id)
        markdown = await report_of(
            self.store, self.checklists, incident_id, self.clock.now(), self.slack.display_name
        )
        return incident, markdown

    async def upload_report(self, incident_id: str) -> Incident:
        incident, markdown = await self.render_report(incident_id)
        if not incident.channel_id:
            raise IncidentNotFound(shared.declare_incomplete(incident.id, "it has no channel yet"))
        await self.slack.upload_file(
            incident.channel_id,
            report.filename(incident),
            markdown,
            f"Post-incident report: {incident.id}",
            f"📝 Post-incident report for *{incident.id}* — fill in the prompts together.",
        )
        return incident

    async def upload_report_once(self, incident_id: str) -> bool:
        """On resolve: the report is uploaded once, however often resolve is clicked."""
        if not await self.store.claim("resolve-report", incident_id):
            return False
        try:
            await self.upload_report(incident_id)
        except FirelineError:
            await self.store.release_claim("resolve-report", incident_id)
            raise
        return True

    # --- recovery --------------------------------------------------------------------------

    async def reconcile(self, *, everything: bool = True) -> int:
        """Finish what a crash or an outage left undone. Returns how many incidents it fixed.

        `everything`: scan every incident (at start-up, after a crash that flagged nothing);
        otherwise only those flagged when a Slack step failed (the periodic repair).
        """
        if everything:
            candidates = await self.store.list_incidents(open_only=False)
        else:
            candidates = [await self.store.get(i) for i in await self.store.flagged()]
        fixed = 0
        for incident in candidates:
            try:
                if not incident.provisioned and incident.is_open:
                    await self.provision(incident.id)
                    fixed += 1
                elif incident.rendered_version < incident.version:
                    await self.refresh(incident.id)
                    fixed += 1
                await self.store.unflag(incident.id)
            except FirelineError as exc:
                log.warning("reconcile of %s left for later: %s", incident.id, exc)
        return fixed

    async def repair_forever(self, clock: Clock, every_s: float = REPAIR_INTERVAL_S) -> None:
        """Every `every_s`, retry the Slack steps that failed (flagged incidents only)."""
        while True:
            await clock.sleep(every_s)
            try:
                await self.reconcile(everything=False)
            except FirelineError as exc:
                log.warning("repair pass failed: %s", exc)


async def report_of(
    store: Store,
    checklists: ChecklistBook | None,
    incident_id: str,
    now: datetime,
    display_name: Callable[[str], Awaitable[str]],
) -> str:
    """The post-incident report from what Redis holds; `display_name` names the people in it
    (Slack's names for the bot, or their IDs for `fireline report` without Slack tokens)."""
    incident = await store.get(incident_id)
    entries = await store.timeline(incident_id)
    people = {incident.reporter, *incident.roles.values()}
    for entry in entries:
        people.add(entry.actor)
        people.update(re.findall(r"<@([UW][A-Z0-9]+)>", entry.text))
    names = {user: await display_name(user) for user in sorted(people)}
    posted = await checklists.all(incident_id) if checklists else []
    return report.render(incident, entries, now, names, checklists=posted)
