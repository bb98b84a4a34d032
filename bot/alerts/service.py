"""Alertmanager notifications become one Slack thread per alert group.

`accept()` is all the webhook does: validate and put the notification on the durable inbox,
so Alertmanager's 200 means "kept". `work_forever()` drains the inbox: per group (`groupKey`),
one parent message edited in place, thread replies for alerts that start or resolve, and
nothing for what was shown before (HA pairs and repeat notifications carry the same
`fingerprint|status|startsAt`). A group is handled under a lock; what it shows is queued, in
the same Redis transaction as the group's new state, on the durable outbox (`bot.outbox`,
`bot.alert_writer`), which posts it within Slack's limits, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

from bot.alerts import messages
from bot.alerts import views as alert_blocks
from bot.alerts.payload import Alert, Notification, parse
from bot.alerts.store import AlertGroup, AlertState, AlertStore
from bot.alerts.writer import AlertWriter
from bot.clock import Clock
from bot.errors import FirelineError, TemporaryError, UserError
from bot.gateways.slack import SlackGateway
from bot.incident import Incident, Severity
from bot.incidents import views as blocks
from bot.metrics import Metrics
from bot.store.store import Store

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 2.0
READ_BLOCK_MS = 1000
RECLAIM_EVERY = 30  # reads between looks for entries a dead replica left behind


@dataclass(frozen=True)
class Route:
    """Alerts whose common labels match every `match` pattern (shell-style) go to `channel`."""

    match: Mapping[str, str]
    channel: str


class GroupHooks(Protocol):
    """What playbooks add to alert groups (`bot.alert_playbooks`)."""

    def playbook_for(self, notification: Notification) -> str: ...

    async def fired(self, group: AlertGroup) -> None:
        """New firing alerts were shown in the group (idempotent: acts on the first only)."""


class Beats(Protocol):
    """The dead-man's switch (`bot.alerts.watchdog`): heartbeat alerts are its, not shown."""

    def is_beat(self, notification: Notification) -> bool: ...

    async def beat(self, notification: Notification) -> None: ...


class NoAlertChannel(UserError):
    """No route matched and no fallback channel is configured."""


class AlertThreads:
    def __init__(
        self,
        alerts: AlertStore,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        *,
        fallback_channel: str | None,
        routes: tuple[Route, ...] = (),
        consumer: str,
        writer: AlertWriter,
        metrics: Metrics | None = None,
    ) -> None:
        self.alerts = alerts
        self.store = store
        self.slack = slack
        self.clock = clock
        self.fallback_channel = fallback_channel
        self.routes = routes
        self.consumer = consumer
        self.writer = writer  # every Slack write for alerts goes through its outbox
        self.hooks: GroupHooks | None = None
        self.beats: Beats | None = None
        self.metrics = metrics or Metrics()
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Finish the current batch and leave the loop (reads block at most READ_BLOCK_MS)."""
        self._stopping = True

    # --- intake ----------------------------------------------------------------------------

    async def accept(self, body: bytes) -> str:
        """Validate and keep a webhook body; raises MalformedPayload or Unavailable."""
        notification = parse(body)
        self.route(notification)  # a notification we could never show is refused now
        return await self.alerts.enqueue(body)

    def route(self, notification: Notification) -> str:
        labels = notification.commonLabels
        for route in self.routes:
            if all(k in labels and fnmatchcase(labels[k], v) for k, v in route.match.items()):
                return route.channel
        if self.fallback_channel:
            return self.fallback_channel
        raise NoAlertChannel("no route matches these alerts and FIRELINE_ALERTS_CHANNEL is not set")

    # --- the worker ------------------------------------------------------------------------

    async def work_forever(self) -> None:
        await self.alerts.ensure_inbox()
        # First what this replica read but never finished before it stopped.
        await self._process(await self.alerts.read(self.consumer, pending=True, block_ms=0))
        reads = 0
        while not self._stopping:
            try:
                if reads % RECLAIM_EVERY == 0:
                    await self._process(await self.alerts.claim_stuck(self.consumer))
                reads += 1
                entries = await self.alerts.read(
                    self.consumer, pending=False, block_ms=READ_BLOCK_MS
                )
                await self._process(entries)
            except TemporaryError as exc:
                self.metrics.temporary("alerts", exc)
                log.warning("alert inbox: %s; retrying in %.0f s", exc, RETRY_PAUSE_S)
                await self.clock.sleep(RETRY_PAUSE_S)
                await self._process(await self.alerts.read(self.consumer, pending=True, block_ms=0))

    async def _process(self, entries: list[tuple[str, bytes]]) -> None:
        for entry_id, body in entries:
            try:
                await self.handle(parse(body))
            except TemporaryError:
                raise  # left unacknowledged: read again after the pause
            except FirelineError as exc:
                self.metrics.alert_notifications.labels("dropped").inc()
                log.error(
                    "alert notification %s dropped after a permanent failure: %s", entry_id, exc
                )
            await self.alerts.done(entry_id)

    # --- one notification ------------------------------------------------------------------

    async def handle(self, notification: Notification) -> None:
        if self.beats is not None and self.beats.is_beat(notification):
            self.metrics.alert_heartbeats.inc()
            await self.beats.beat(notification)
            return
        group_id = notification.group_id
        async with self.store.lock(f"alertgroup:{group_id}", wait_s=30.0) as held:
            if not held:
                raise TemporaryError(f"alert group {group_id} is busy")
            existing = await self.alerts.get_group(group_id)
            group = existing or self._new_group(notification)
            unseen = set(
                await self.alerts.unseen(group_id, [a.event_key for a in notification.alerts])
            )
            new = [a for a in notification.alerts if a.event_key in unseen]
            if existing and not new:
                return  # a repeat, or the other half of an HA pair
            # A group of one is shown only by its parent; the alert it started with must be
            # listed in the thread once the group grows, or its details vanish from view.
            alone = list(group.alerts) if existing is not None and len(group.alerts) == 1 else []
            self._apply(group, notification, new)
            if existing is None:
                # The parent shows the group; a listing follows in its thread if there are more.
                many = len(notification.alerts) > 1
                notes = [alert_blocks.changes(group, group.firing, group.resolved)] if many else []
                storm = await self.writer.join_storm(group.channel)
            else:
                changed = [a.fingerprint for a in new]
                if len(group.alerts) > 1:
                    changed = [f for f in alone if f not in changed] + changed
                firing = [group.alerts[f] for f in changed if group.alerts[f].status == "firing"]
                resolved = [
                    group.alerts[f] for f in changed if group.alerts[f].status == "resolved"
                ]
                notes = [alert_blocks.changes(group, firing, resolved)]
                storm = 0
            notes = [n for n in notes if n]
            # Saved, marked shown and queued for Slack in one step: the outbox posts it.
            await self.alerts.commit(
                group,
                [a.event_key for a in new],
                lambda pipe: self.writer.queue_in(
                    pipe, group, [n for n in notes if n], storm=storm
                ),
            )
        self.writer.outbox.nudge()
        if self.hooks is not None and any(a.status == "firing" for a in new):
            await self.hooks.fired(group)

    def _new_group(self, notification: Notification) -> AlertGroup:
        now = self.clock.now()
        return AlertGroup(
            group_id=notification.group_id,
            group_key=notification.groupKey,
            channel=self.route(notification),
            title=notification.title,
            playbook=self.hooks.playbook_for(notification) if self.hooks else "",
            created_at=now,
            updated_at=now,
        )

    def _apply(self, group: AlertGroup, notification: Notification, new: list[Alert]) -> None:
        new_keys = {a.event_key for a in new}
        for alert in notification.alerts:
            if alert.event_key not in new_keys:
                continue  # shown already; an older copy must not undo a newer state
            group.alerts[alert.fingerprint] = AlertState(
                fingerprint=alert.fingerprint,
                status=alert.status,
                labels=alert.labels,
                summary=alert.annotations.get("summary", ""),
                starts_at=alert.startsAt,
            )
        group.title = notification.title
        group.summary = notification.summary or group.summary
        group.severity = notification.severity or group.severity
        group.common_labels = notification.commonLabels
        group.external_url = notification.externalURL
        group.truncated = notification.truncatedAlerts
        group.generator_url = next(
            (a.generatorURL for a in notification.alerts if a.generatorURL), group.generator_url
        )
        group.runbook_url = notification.commonAnnotations.get("runbook_url", group.runbook_url)
        group.status = "firing" if group.firing else "resolved"
        group.updated_at = self.clock.now()

    async def _show(self, group: AlertGroup, note: str) -> None:
        """Save the group and queue its parent's edit and a thread note."""
        await self.alerts.commit(group, [], lambda pipe: self.writer.queue_in(pipe, group, [note]))
        self.writer.outbox.nudge()

    # --- buttons ---------------------------------------------------------------------------

    async def link_incident(self, group_id: str, incident: Incident) -> None:
        """An incident was declared from this group: say so on the parent and in the thread."""
        async with self.store.lock(f"alertgroup:{group_id}", wait_s=5.0) as held:
            group = await self.alerts.get_group(group_id) if held else None
            if group is None or group.incident_id == incident.id:
                return
            group.incident_id = incident.id
            await self._show(group, messages.incident_declared(incident.id, incident.channel_id))

    async def incident_at(self, channel: str, thread_ts: str | None) -> Incident | None:
        """The incident a place belongs to: an incident channel's own, else the incident
        declared from the alert group whose thread (or parent) it is."""
        incident = await self.store.find_by_channel(channel)
        if incident is not None or thread_ts is None:
            return incident
        group = await self.alerts.group_by_parent(channel, thread_ts)
        if group is None or group.incident_id is None:
            return None
        return await self.store.get(group.incident_id)

    async def acknowledge(self, group_id: str, user: str) -> bool:
        """First acknowledgement wins; returns False if someone had already acknowledged."""
        async with self.store.lock(f"alertgroup:{group_id}", wait_s=5.0) as held:
            group = await self.alerts.get_group(group_id) if held else None
            if group is None:
                raise TemporaryError("that alert group is busy or unknown; try again")
            if group.acknowledged_by is not None:
                return False
            group.acknowledged_by = user
            await self._show(group, messages.acknowledged(user))
        return True


SEVERITY_TO_INCIDENT = {
    "critical": Severity.P1,
    "error": Severity.P2,
    "warning": Severity.P2,
    "info": Severity.P3,
}
SERVICE_LABELS = ("service", "deployment", "app", "job")


async def declare_form(threads: AlertThreads, group_id: str, channel: str) -> dict[str, object]:
    """The declare form pre-filled from an alert group, linking back to its thread."""
    group = await threads.alerts.get_group(group_id)
    if group is None or group.parent_ts is None:
        raise UserError(
            "Fireline no longer knows that alert group; declare with `/incident declare`."
        )
    link = await threads.slack.permalink(group.channel, group.parent_ts)
    service = next((group.common_labels[k] for k in SERVICE_LABELS if k in group.common_labels), "")
    lines = [
        group.summary,
        f"Alert thread: {link}" if link else "",
        f"Runbook: {group.runbook_url}" if group.runbook_url else "",
        f"Graph: {group.generator_url}" if group.generator_url else "",
    ]
    title = f"{group.title}: {group.summary}" if group.summary else group.title
    return blocks.declare_modal(
        channel,
        title[:150],
        SEVERITY_TO_INCIDENT.get(group.severity, Severity.P2),
        service=service,
        description="\n".join(line for line in lines if line),
        alert_group=group_id,
    )


async def run_worker(threads: AlertThreads) -> None:
    """The worker loop, restarted after anything unexpected (logged), until stopped."""
    while not threads.stopping:
        try:
            await threads.work_forever()
        except asyncio.CancelledError:
            raise
        except TemporaryError as exc:  # Redis away: said in one line, no traceback
            log.warning("alert worker paused: %s; restarting in %.0f s", exc, RETRY_PAUSE_S)
        except Exception:
            log.exception("alert worker stopped unexpectedly; restarting in %.0f s", RETRY_PAUSE_S)
        else:
            continue
        await threads.clock.sleep(RETRY_PAUSE_S)
