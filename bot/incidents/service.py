"""Incident lifecycle: declare, change, and keep Slack showing what Redis holds.

The order is always: record the change in Redis (atomically, with its timeline entries), then
make Slack show it. Slack steps are idempotent and resumable: each artefact (channel, card,
announcement) is recorded on the incident once made, and `reconcile()` finishes whatever a
crash or a Slack outage left undone, so nothing a responder did is lost or done twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import messages as shared
from bot.blockkit import section
from bot.checklists.models import ChecklistBook
from bot.clock import Clock
from bot.errors import (
    FirelineError,
    IncidentNotFound,
    TemporaryError,
    Unavailable,
    Unconfirmed,
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
PROVISION_WAIT_S = 10.0
"""How long a declare waits for another worker's set-up of the same incident to finish."""
RENDER_WAIT_S = 10.0
REPAIR_AFTER = timedelta(seconds=2 * PROVISION_WAIT_S)
"""The periodic repair leaves a new incident's set-up to the worker declaring it this long, so
under a burst it does not take the lock that declarer then waits for."""
SETTLE_WITHIN_S = 10.0
SETTLE_FIRST_S = 0.1
SETTLE_MAX_DELAY_S = 2.0
"""A declare whose answer was lost is settled within 10 s of Redis answering again (tried after
0.1 s, doubling to every 2 s); after that the person is told it could not be confirmed."""


class Busy(TemporaryError):
    """Another worker holds the incident's lock: it is doing this work now (or died doing it,
    and the lock expires)."""


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

    async def settle_declare(
        self, request_key: str, lost: TemporaryError, unconfirmed: str
    ) -> Declared:
        """After `declare` failed with Redis trouble (the script may have run, its answer lost):
        find out, while Redis comes back (bounded), whether the incident was recorded.

        Recorded: it is returned, and its set-up goes on as usual. Certainly not recorded (the
        request's claim taken here first, so the lost call can no longer create it): `lost` is
        raised, and the person is told it did not happen. Still unknown: `Unconfirmed` with the
        sentence `unconfirmed`; the periodic repair finishes the incident if it exists.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_WITHIN_S
        delay = SETTLE_FIRST_S
        while True:
            try:
                incident_id = await self.store.abandon_declare(request_key)
                if incident_id is None:
                    break
                return Declared(await self.store.get(incident_id), created=True)
            except TemporaryError as exc:
                if loop.time() + delay > deadline:
                    log.warning("declare %s could not be confirmed: %s", request_key, exc)
                    raise Unconfirmed(unconfirmed) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, SETTLE_MAX_DELAY_S)
        # Certainly not recorded now (the claim is taken): "did not happen" is true, however
        # the lost call failed.
        raise Unavailable(str(lost)) from lost

    async def provision(self, incident_id: str, *, wait_s: float = PROVISION_WAIT_S) -> Incident:
        """Create whatever Slack artefacts the incident still lacks. Safe to call repeatedly.

        Raises `Busy` when another worker holds the incident's lock for longer than `wait_s`
        (it is doing this work; a lock left by a dead process expires, and the repair comes
        back): never "done" for work that was not done."""
        async with self.store.lock(f"provision:{incident_id}", wait_s=wait_s) as held:
            incident = await self.store.get(incident_id)
            if incident.provisioned:
                return incident
            if not held:
                raise Busy(f"another Fireline worker is setting {incident_id} up")
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

    async def refresh(self, incident_id: str, *, wait_s: float = RENDER_WAIT_S) -> None:
        """Edit the card, topic and announcement in place to show the latest version; then
        the incident is unflagged if nothing changed meanwhile."""
        async with self.store.lock(f"render:{incident_id}", wait_s=wait_s) as held:
            if not held:
                return  # another worker is rendering; it reads the latest version
            await self._render(incident_id)
        await self.store.unflag_if_shown(incident_id)

    async def _render(self, incident_id: str) -> None:
        """`refresh`'s work, under the incident's render lock."""
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

    async def reconcile(
        self, *, everything: bool = True, younger_than: timedelta | None = None
    ) -> int:
        """Finish what a crash or an outage left undone. Returns how many incidents it fixed.

        `everything`: scan every incident (at start-up, for records older than the flags);
        otherwise only the flagged ones: every incident is flagged from its creation until it
        is set up, and from each change until Slack shows it (the periodic repair). An
        incident is unflagged only once Slack shows it as Redis holds it; one another worker
        is busy with (its lock held, even by a process that died, until the lock expires)
        stays flagged for the next pass. `younger_than`: leave the set-up of incidents declared
        less than that ago to the worker declaring them (the periodic repair).
        """
        if everything:
            candidates = await self.store.list_incidents(open_only=False)
        else:
            candidates = []
            for incident_id in await self.store.flagged():
                try:
                    candidates.append(await self.store.get(incident_id))
                except IncidentNotFound:
                    await self.store.unflag(incident_id)
        fixed = 0
        now = self.clock.now()
        for incident in candidates:
            try:
                if not incident.provisioned and incident.is_open:
                    if younger_than is not None and now - incident.created_at < younger_than:
                        continue
                    await self.provision(incident.id, wait_s=0)
                    fixed += 1
                elif incident.rendered_version < incident.version:
                    await self.refresh(incident.id, wait_s=0)
                    fixed += 1
                await self.store.unflag_if_shown(incident.id)
            except FirelineError as exc:
                log.warning("reconcile of %s left for later: %s", incident.id, exc)
        return fixed

    async def repair_forever(self, clock: Clock, every_s: float = REPAIR_INTERVAL_S) -> None:
        """Every `every_s`, finish the flagged incidents (set-ups and renders that a crash, a
        Slack outage or a Redis outage interrupted). A pass that meets Redis down is logged and
        the next one tries again: nothing here waits for a restart."""
        while True:
            await clock.sleep(every_s)
            try:
                fixed = await self.reconcile(everything=False, younger_than=REPAIR_AFTER)
            except FirelineError as exc:
                log.warning("repair pass failed: %s", exc)
            else:
                if fixed:
                    log.info("repair: finished the Slack work of %d incidents", fixed)


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
