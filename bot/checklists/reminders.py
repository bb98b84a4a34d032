"""The reminder and escalation policy: how long each severity may go unacknowledged, how often
it must be updated, and who is paged when it is not. Pure data and arithmetic, no I/O.

The app builds it from the settings, whose values are already typed (`timedelta` by
severity); `ReminderPolicy.parse` reads the settings' text forms, for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.durations import durations_by_severity, parse_duration
from bot.incident import Incident, Severity
from bot.settings import (
    DEFAULT_ACK_DEADLINES,
    DEFAULT_ESCALATE_AFTER,
    DEFAULT_UPDATE_REMINDERS,
    user_groups_by_severity,
)

SNOOZES: dict[str, float | None] = {"30m": 30 * 60, "1h": 3600, "resolved": None}
"""Snooze choices on an update reminder: seconds, or None for "until resolved"."""


@dataclass(frozen=True)
class ReminderPolicy:
    ack_deadline: Mapping[Severity, timedelta | None]
    """Time after the declaration by which someone must acknowledge; None: no deadline."""
    escalate_after: timedelta
    """Time after the acknowledgement reminder before the on-call group is paged."""
    update_every: Mapping[Severity, timedelta | None]
    """Time without a status update before a reminder; None: no reminders."""
    oncall: Mapping[Severity, str]
    """Slack user-group ID paged on escalation, by severity."""

    @classmethod
    def parse(
        cls,
        *,
        ack_deadlines: str = DEFAULT_ACK_DEADLINES,
        escalate_after: str = DEFAULT_ESCALATE_AFTER,
        update_reminders: str = DEFAULT_UPDATE_REMINDERS,
        oncall: str = "",
    ) -> ReminderPolicy:
        return cls(
            ack_deadline=durations_by_severity(ack_deadlines, what="deadlines"),
            escalate_after=parse_duration(escalate_after),
            update_every=durations_by_severity(update_reminders, what="intervals"),
            oncall=user_groups_by_severity(oncall),
        )

    def ack_reminder_at(self, incident: Incident) -> datetime | None:
        deadline = self.ack_deadline.get(incident.severity)
        return None if deadline is None else incident.created_at + deadline

    def escalation_at(self, incident: Incident) -> datetime | None:
        reminder = self.ack_reminder_at(incident)
        return None if reminder is None else reminder + self.escalate_after

    def next_update_due(self, incident: Incident, now: datetime) -> datetime | None:
        """When an update reminder is due if nobody posts one: interval after the last update."""
        every = self.update_every.get(incident.severity)
        if every is None:
            return None
        base = max(incident.last_update_at or incident.created_at, incident.created_at)
        return max(base + every, now)


def mentions_commander(severity: Severity) -> bool:
    """Overdue checklist items ping the commander for the two most severe grades."""
    return severity in {Severity.P0, Severity.P1}
