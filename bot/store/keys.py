"""Every Redis key name Fireline uses, in one place (as arq keeps its prefixes in one module).

Keys are namespaced by a prefix, so tests and two deployments can share one server. Only the
key *names* live here; the code that reads and writes them is the store's parts and the few
modules that own Redis state (`.importlinter` lists them).
"""

from __future__ import annotations


class Keys:
    """Every key name, in one place."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def timeline(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline"

    def timeline_keys(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline-keys"

    def channel(self, channel_id: str) -> str:
        return f"{self.prefix}channel:{channel_id}"

    @property
    def sequence(self) -> str:
        return f"{self.prefix}seq:incident"

    @property
    def open_incidents(self) -> str:
        return f"{self.prefix}incidents:open"

    @property
    def all_incidents(self) -> str:
        return f"{self.prefix}incidents:all"

    @property
    def needs_attention(self) -> str:
        return f"{self.prefix}incidents:needs-attention"

    @property
    def alerts_inbox(self) -> str:
        """Stream of accepted Alertmanager notifications, consumed by group `ALERT_WORKERS`."""
        return f"{self.prefix}alerts:inbox"

    def alert_group(self, group_id: str) -> str:
        return f"{self.prefix}alertgroup:{group_id}"

    def alert_events(self, group_id: str) -> str:
        """Set of `fingerprint|status|startsAt` already shown in the group's thread."""
        return f"{self.prefix}alertgroup:{group_id}:events"

    def alert_group_by_parent(self, channel_id: str, ts: str) -> str:
        return f"{self.prefix}alertparent:{channel_id}:{ts}"

    @property
    def alerts_retired(self) -> str:
        """Sorted set: what retention may forget (`group:<id>` for a resolved alert group,
        `digest:<channel>:<n>` for a storm's digest after the storm) → since when (epoch s).
        Swept by `bot.alerts.retention` once older than `FIRELINE_ALERT_RETENTION`."""
        return f"{self.prefix}alerts:retired"

    def alert_silence(self, group_id: str) -> str:
        """The group's silence made from Slack (JSON: who, until, ID); expires with the silence."""
        return f"{self.prefix}alertgroup:{group_id}:silence"

    def claim(self, scope: str, key: str) -> str:
        return f"{self.prefix}claim:{scope}:{key}"

    def posted(self, key: str) -> str:
        """A job's post made once (`bot.runtime.posts`): JSON of its attempt, then its message."""
        return f"{self.prefix}posted:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    @property
    def audit(self) -> str:
        """Stream of every action run (who, what, target, outcome, duration): the recent window
        (`FIRELINE_AUDIT_RETENTION`, by time); the `fireline.audit` log keeps them all."""
        return f"{self.prefix}audit"

    def rate(self, user: str) -> str:
        return f"{self.prefix}rate:{user}"

    # --- scheduled jobs (bot.runtime.jobs) and checklists (bot.checklists) ------------------

    @property
    def jobs_due(self) -> str:
        """Sorted set: job ID → due time (epoch seconds)."""
        return f"{self.prefix}jobs:due"

    @property
    def jobs_leased(self) -> str:
        """Sorted set: job ID → when its claimer's lease runs out."""
        return f"{self.prefix}jobs:leased"

    @property
    def job_prefix(self) -> str:
        """`job_prefix + job ID` is the job's hash (document and current lease token)."""
        return f"{self.prefix}job:"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{job_id}"

    def job_group(self, group: str) -> str:
        """Set of the job IDs scheduled for one group (an incident), for cancelling them all."""
        return f"{self.prefix}jobs:group:{group}"

    @property
    def job_done_prefix(self) -> str:
        """`job_done_prefix + job ID + ':' + due` marks a run that completed (idempotency)."""
        return f"{self.prefix}job-done:"

    def checklist(self, incident_id: str, minutes: int) -> str:
        """Hash: the posted checklist's message (ts, channel, posted/late) for one mark."""
        return f"{self.prefix}incident:{incident_id}:checklist:{minutes}"

    def checklist_answers(self, incident_id: str, minutes: int) -> str:
        """Hash: item number → the first answer given to it (JSON)."""
        return f"{self.prefix}incident:{incident_id}:checklist:{minutes}:answers"

    def checklist_marks(self, incident_id: str) -> str:
        """Set of the marks (minutes) whose checklist was posted for an incident."""
        return f"{self.prefix}incident:{incident_id}:checklists"

    def update_snooze(self, incident_id: str) -> str:
        """Until when (epoch seconds, or `resolved`) update reminders are snoozed."""
        return f"{self.prefix}incident:{incident_id}:update-snooze"

    # --- remediation (bot.remediation.store) ----------------------------------------------

    @property
    def remediation_sequence(self) -> str:
        return f"{self.prefix}seq:remediation"

    def remediation(self, remediation_id: str) -> str:
        """A remediation request's record (JSON), from request to its outcome."""
        return f"{self.prefix}remediation:{remediation_id}"

    @property
    def remediations_active(self) -> str:
        """Set of the remediation IDs not yet in a final state (reconciled at start-up)."""
        return f"{self.prefix}remediations:active"

    def remediation_target(self, target: str) -> str:
        """The one open remediation request for a target (`cluster/namespace/kind/name`)."""
        return f"{self.prefix}remediation-target:{target}"

    def remediation_cooldown(self, target: str) -> str:
        """Set when a remediation changed a target; expires with the policy's cooldown."""
        return f"{self.prefix}remediation-cooldown:{target}"

    def remediation_last(self, target: str) -> str:
        """The last remediation applied to a target: a stale button names what changed it."""
        return f"{self.prefix}remediation-last:{target}"

    # --- Slack's rate limits (bot.gateways.slack_budget), the alert outbox (bot.alerts) -----

    def slack_bucket(self, name: str) -> str:
        """Hash: one Slack rate-limit bucket (tokens, stamp, blocked-until, urgent-until)."""
        return f"{self.prefix}slackrate:{name}"

    @property
    def alert_heartbeat(self) -> str:
        """Hash: `last` beat and, while it is overdue, the `missing` deadline (watchdog)."""
        return f"{self.prefix}alerts:heartbeat"

    @property
    def outbox_channels(self) -> str:
        """Set of the channels whose outbox has entries waiting."""
        return f"{self.prefix}outbox:channels"

    def outbox_queue(self, channel: str) -> str:
        """Sorted set: slot → order (class, then first enqueued) of a channel's waiting writes."""
        return f"{self.prefix}outbox:{channel}:queue"

    def outbox_versions(self, channel: str) -> str:
        """Hash: slot → version, bumped by every enqueue (a newer one outlives a send)."""
        return f"{self.prefix}outbox:{channel}:versions"

    def outbox_attempts(self, channel: str) -> str:
        """Hash: slot → the marker of a post whose outcome is not yet recorded."""
        return f"{self.prefix}outbox:{channel}:attempts"

    def outbox_parked(self, channel: str) -> str:
        """Hash: slot → why Slack refused it for good (kept for a retry, never dropped)."""
        return f"{self.prefix}outbox:{channel}:parked"

    @property
    def outbox_parked_channels(self) -> str:
        """Set of the channels that have (or had) parked slots."""
        return f"{self.prefix}outbox:parked-channels"

    def outbox_lease(self, channel: str) -> str:
        """Which replica drains the channel's outbox now (SET NX PX)."""
        return f"{self.prefix}outbox:{channel}:lease"

    @property
    def outbox_sent(self) -> str:
        """Hash: slot → ts of the message it posted (slots are unique across channels)."""
        return f"{self.prefix}outbox:sent"

    def outbox_notes(self, slot: str) -> str:
        """List: thread notes waiting to be posted by a `thread:` slot (coalesced into one)."""
        return f"{self.prefix}outbox:notes:{slot}"

    def storm(self, channel: str) -> str:
        """Hash: storm state of a channel (`on`, `number` of the current digest)."""
        return f"{self.prefix}storm:{channel}"

    def storm_groups(self, channel: str, number: int) -> str:
        """Sorted set: the alert groups a storm's digest lists, in arrival order."""
        return f"{self.prefix}storm:{channel}:{number}:groups"
