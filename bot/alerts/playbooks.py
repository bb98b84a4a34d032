"""Playbooks on alert threads: diagnostics on a group's first firing, Run playbook, Silence 1 h.

- **First firing.** `AlertThreads` asks `playbook_for()` when a group is new (the name is kept
  on the group) and calls `fired()` whenever a notification shows new firing alerts. `fired()`
  claims the group once (`SET NX`, so repeats and a second replica do nothing) and schedules a
  durable job; the job waits for the parent message (posted by the alert worker or its outbox),
  then runs the playbook in the thread with the alert pipeline's authority (`alerts.run_as`,
  audited as `ALERT_PRINCIPAL`) and its own rate limit. The thread's first line is what the
  diagnosis of the alert's deployment names (the same `diagnose` a person runs). Each of its
  messages is posted once (`bot.posts`): a job run again after a timeout or a restart only adds
  what is missing.
- **Run playbook** runs it again in the thread as the person who clicked: their roles, their
  rate limit, their audit entries; what they may not see is told to them alone.
- Both buttons act only on the group whose message was clicked: a value naming another group
  is refused and recorded (a button's value is a request, never an authority).
- **Silence 1 h** creates an Alertmanager silence (API v2) matching the group's common labels,
  for the roles in `alerts.silence_roles`, claimed in Redis first so a double click or a second
  replica makes one silence; who and until when are written in the thread.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from bot import blockkit as blocks
from bot import messages as shared
from bot.alerts import messages
from bot.alerts.payload import Notification
from bot.alerts.store import AlertGroup, AlertStore
from bot.clock import Clock
from bot.errors import FirelineError, TemporaryError, UserError
from bot.gateways.alertmanager import AlertmanagerGateway
from bot.gateways.slack import SlackGateway
from bot.interaction import Click, Reply
from bot.playbooks.match import AlertFacts, best
from bot.playbooks.runner import PlaybookRunner
from bot.policy import messages as policy_messages
from bot.policy.alerts import ALERT_PRINCIPAL, AlertPolicy
from bot.policy.authority import Authority
from bot.runtime.scheduler import Job, Scheduler
from bot.store.store import Store

log = logging.getLogger(__name__)

JOB_KIND = "alert-playbook"
CLAIM_SCOPE = "alert-playbook"
CLAIM_TTL_S = 7 * 24 * 3600
SILENCE = timedelta(hours=1)
PARENT_WAIT_S = 2.0


class AlertPlaybooks:
    def __init__(
        self,
        runner: PlaybookRunner,
        alerts: AlertStore,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        scheduler: Scheduler,
        authority: Authority,
        policy: AlertPolicy,
        alertmanager: AlertmanagerGateway | None,
    ) -> None:
        self.runner = runner
        self.alerts = alerts
        self.store = store
        self.slack = slack
        self.clock = clock
        self.scheduler = scheduler
        self.authority = authority
        self.authorizer = authority.authorizer
        self.policy = policy
        self.alertmanager = alertmanager
        scheduler.register(JOB_KIND, self._first_run)

    # --- hooks called by AlertThreads -----------------------------------------------------

    def playbook_for(self, notification: Notification) -> str:
        found = best(self.runner.playbooks, alert_facts(notification))
        return found.name if found else ""

    async def fired(self, group: AlertGroup) -> None:
        if not group.playbook:
            return
        job = Job(
            id=f"{JOB_KIND}:{group.group_id}",
            kind=JOB_KIND,
            due=self.clock.now().timestamp(),
            data={"group": group.group_id},
        )
        # Claimed and scheduled in one step: once per group, and never claimed but lost.
        claim = self.store.keys.claim(CLAIM_SCOPE, group.group_id)
        await self.scheduler.schedule(job, once=(claim, CLAIM_TTL_S))

    async def _first_run(self, job: Job, late_by: float) -> None:
        group = await self.alerts.get_group(str(job.data["group"]))
        playbook = self.runner.playbooks.get(group.playbook) if group else None
        if group is None or playbook is None:
            return  # the group expired, or the playbook was removed since
        if group.parent_ts is None:
            raise TemporaryError("the alert's parent message is not posted yet", retry_after=2.0)
        # A second attempt (a timeout, a restart, another replica) adds nothing already shown.
        # The run's first message leads with what the diagnosis names, then says whose
        # authority the run has.
        await self.runner.run(
            playbook,
            dict(group.common_labels),
            user=ALERT_PRINCIPAL,
            channel=group.channel,
            thread_ts=group.parent_ts,
            incident=None,
            per_minute=self.policy.per_minute,
            once=f"job:{job.id}",
            intro=messages.alert_playbook_started(playbook.title, self.policy.run_as),
        )

    # --- buttons ---------------------------------------------------------------------------

    async def _group(self, group_id: str, click: Click, what: str) -> AlertGroup:
        """The group whose message was clicked, if it is the one the button names."""
        group = await self.alerts.get_group(group_id[:64])
        if group is None or group.parent_ts is None:
            raise UserError(messages.alert_group_unknown())
        if group.channel != click.channel or group.parent_ts != click.message_ts:
            reason = policy_messages.not_this_alert(group_id[:24])
            await self.authority.refuse(click.user, what, None, reason)
        return group

    async def run_clicked(self, group_id: str, click: Click) -> Reply:
        """Run playbook: before the ack, find the group; after it, run as the person."""
        user = click.user
        group = await self._group(group_id, click, "alert.run-playbook")
        playbook = self.runner.playbooks.get(group.playbook)
        if playbook is None:
            raise UserError(messages.alert_no_playbook())
        incident = await self.store.get(group.incident_id) if group.incident_id else None

        async def later() -> str | None:
            assert group.parent_ts is not None
            await self.slack.post_message(
                group.channel,
                messages.alert_playbook_run_by(playbook.title, user),
                thread_ts=group.parent_ts,
            )
            outcome = await self.runner.run(
                playbook,
                dict(group.common_labels),
                user=user,
                channel=group.channel,
                thread_ts=group.parent_ts,
                incident=incident,
                tell=user,
            )
            if outcome.problems:
                return shared.playbook_problems(len(outcome.problems), outcome.problems)
            return None

        return Reply(later=later)

    async def silence(self, group_id: str, click: Click) -> Reply:
        """Silence 1 h: the role check and the claim before the ack, Alertmanager after it."""
        user = click.user
        if self.alertmanager is None:
            raise UserError(messages.silence_not_configured())
        group = await self._group(group_id, click, "alert.silence")
        held = await self.authorizer.roles_of(user)
        if not set(held) & set(self.policy.silence_roles):
            roles = self.policy.silence_roles
            reason = messages.silence_denied(held, roles, self.authorizer.holders(roles))
            await self.authority.refuse(user, "alert.silence", group.incident_id, reason)
        matchers = dict(group.common_labels)
        if not matchers:
            raise UserError(messages.silence_no_matchers())
        now = self.clock.now()
        until = now + SILENCE
        record = {"user": user, "until": until.isoformat(), "id": "", "token": secrets.token_hex(8)}
        existing = await self.alerts.claim_silence(
            group_id, json.dumps(record), int(SILENCE.total_seconds())
        )
        if existing is not None:
            other = _record(existing)
            shown = blocks.slack_date(_when(other.get("until"), until))
            return Reply(text=messages.silence_exists(str(other.get("user", "?")), shown))

        async def later() -> str | None:
            assert self.alertmanager is not None and group.parent_ts is not None
            link = await self.slack.permalink(group.channel, group.parent_ts)
            try:
                silence_id = await self.alertmanager.create_silence(
                    matchers,
                    starts=now,
                    ends=until,
                    created_by=f"{user} via Fireline",
                    comment=f"Silenced from Slack by {user} for 1 h"
                    + (f": {link}" if link else ""),
                )
            except FirelineError as exc:
                await self.alerts.drop_silence(group_id)  # nothing was made: may be tried again
                return messages.silence_failed(str(exc))
            record["id"] = silence_id
            await self.alerts.save_silence(group_id, json.dumps(record))
            await self.slack.post_message(
                group.channel,
                messages.silence_recorded(user, blocks.slack_date(until), silence_id, matchers),
                thread_ts=group.parent_ts,
            )
            return None

        return Reply(later=later)


def _record(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _when(value: object, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return default


def alert_facts(notification: Notification) -> AlertFacts:
    """What playbook matching looks at in a notification: its common labels and annotations."""
    labels = dict(notification.commonLabels)
    labels.setdefault("alertname", notification.title)
    annotations = [
        notification.commonAnnotations,
        *(a.annotations for a in notification.alerts),
    ]
    return AlertFacts.of(labels, *annotations)
