"""The reminder and escalation policy: how long each severity may go unacknowledged, how often
it must be updated, and who is paged when it is not. Pure data and arithmetic, no I/O.

Settings give it as text (`P0=0,P1=15m,P2=1h,P3=1d`); `parse_by_severity` turns that into
values and says exactly what is wrong when it cannot, so a bad setting stops the start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.incident import Incident, Severity

DEFAULT_ACK_DEADLINES = "P0=0,P1=15m,P2=1h,P3=1d"
DEFAULT_ESCALATE_AFTER = "5m"
DEFAULT_UPDATE_REMINDERS = "P0=15m,P1=30m,P2=1h,P3=off"
OFF = "off"
SNOOZES: dict[str, float | None] = {"30m": 30 * 60, "1h": 3600, "resolved": None}
"""Snooze choices on an update reminder: seconds, or None for "until resolved"."""

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")


def parse_duration(text: str) -> float:
    """`90s`, `15m`, `1h`, `1d`, or a bare number of minutes → seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"`{text}` is not a duration (write e.g. 0, 90s, 15m, 1h or 1d)")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def parse_by_severity(text: str, *, what: str) -> dict[Severity, str]:
    """`P0=15m, P1=30m` → {P0: "15m", P1: "30m"}; names the part that is wrong."""
    values: dict[Severity, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        try:
            severity = Severity(name.strip().upper())
        except ValueError:
            raise ValueError(
                f"`{part}`: {what} are written SEVERITY=VALUE with P0, P1, P2 or P3, "
                "separated by commas"
            ) from None
        if not sep or not value.strip():
            raise ValueError(f"`{part}` has no value after `=`")
        if severity in values:
            raise ValueError(f"{severity.value} is given twice")
        values[severity] = value.strip()
    return values


def durations(text: str, *, what: str, allow_off: bool) -> dict[Severity, float | None]:
    """Every severity's duration (None = off); a severity left out is off."""
    out: dict[Severity, float | None] = dict.fromkeys(Severity)
    for severity, value in parse_by_severity(text, what=what).items():
        if allow_off and value.lower() == OFF:
            continue
        out[severity] = parse_duration(value)
    return out


def oncall_groups(text: str) -> dict[Severity, str]:
    groups = parse_by_severity(text, what="on-call groups")
    for severity, group in groups.items():
        if not _GROUP.match(group):
            raise ValueError(
                f"{severity.value}={group}: give the user group's ID (S0123ABCD), not its "
                "@handle (Slack: the group's profile → ⋯ → Copy group ID)"
            )
    return groups


@dataclass(frozen=True)
class ReminderPolicy:
    ack_deadline: Mapping[Severity, float | None]
    """Seconds after the declaration by which someone must acknowledge; None: no deadline."""
    escalate_after: float
    """Seconds after the acknowledgement reminder before the on-call group is paged."""
    update_every: Mapping[Severity, float | None]
    """Seconds without a status update before a reminder; None: no reminders."""
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
            ack_deadline=durations(ack_deadlines, what="deadlines", allow_off=True),
            escalate_after=parse_duration(escalate_after),
            update_every=durations(update_reminders, what="intervals", allow_off=True),
            oncall=oncall_groups(oncall),
        )

    def ack_reminder_at(self, incident: Incident) -> datetime | None:
        deadline = self.ack_deadline.get(incident.severity)
        return None if deadline is None else incident.created_at + timedelta(seconds=deadline)

    def escalation_at(self, incident: Incident) -> datetime | None:
        reminder = self.ack_reminder_at(incident)
        return None if reminder is None else reminder + timedelta(seconds=self.escalate_after)

    def next_update_due(self, incident: Incident, now: datetime) -> datetime | None:
        """When an update reminder is due if nobody posts one: interval after the last update."""
        every = self.update_every.get(incident.severity)
        if every is None:
            return None
        base = max(incident.last_update_at or incident.created_at, incident.created_at)
        return max(base + timedelta(seconds=every), now)


def mentions_commander(severity: Severity) -> bool:
    """Overdue checklist items ping the commander for the two most severe grades."""
    return severity in {Severity.P0, Severity.P1}
