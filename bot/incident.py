"""The incident record and its state machine, free of I/O.

Every change to an incident is a pure function of the current record that returns the new
record and the timeline entries it produced; the store applies both in one Redis transaction.
That is what makes a double click, a Slack retry or a second replica harmless: the second
attempt sees the first one's result and changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.blockkit import escape, requote, with_mentions
from bot.blockkit import user as mention
from bot.errors import InvalidTransition

INCIDENT_ID = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
MAX_TITLE = 150
MAX_TEXT = 3000


class Severity(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def meaning(self) -> str:
        return SEVERITY_MATRIX[self][0]

    @property
    def respond_within(self) -> str:
        return SEVERITY_MATRIX[self][1]

    @property
    def emoji(self) -> str:
        return {"P0": "🔴", "P1": "🟠", "P2": "🟡", "P3": "🔵"}[self.value]

    def worse(self, other: Severity | None) -> Severity:
        """The more severe of the two (P0 is the most severe)."""
        return self if other is None or self.value <= other.value else other


SEVERITY_MATRIX: dict[Severity, tuple[str, str]] = {
    Severity.P0: ("Complete outage, data loss or security breach", "respond immediately"),
    Severity.P1: ("Major functionality impaired or error rate > 5 %", "respond within 15 min"),
    Severity.P2: ("Minor functionality impaired", "respond within 1 h"),
    Severity.P3: ("Minor bugs", "respond within 1 day"),
}
DEFAULT_SEVERITY = Severity.P2


class Status(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return {
            "declared": "🚨 Declared",
            "acknowledged": "👀 Acknowledged",
            "mitigated": "🩹 Mitigated",
            "resolved": "✅ Resolved",
        }[self.value]


class Role(StrEnum):
    COMMANDER = "commander"
    COMMS = "comms"
    SCRIBE = "scribe"


class TimelineEntry(BaseModel):
    """One line of the incident's history: who did what, when (UTC)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    kind: str
    text: str
    """mrkdwn, as Slack shows it: what people typed is escaped when the entry is made, and
    mentions come only from `bot.blockkit.user`."""


class Incident(BaseModel):
    """An incident as stored in Redis. `version` increases with every applied change."""

    id: str
    number: int
    title: str
    severity: Severity
    peak_severity: Severity | None = None
    """The most severe grade it has had (None: never changed since declared). Only ever raised:
    what may be done without a second person is judged on it, not on a grade anyone can lower."""
    status: Status = Status.DECLARED
    reporter: str
    roles: dict[Role, str] = Field(default_factory=dict)
    service: str | None = None
    description: str | None = None
    origin_channel: str | None = None
    created_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    last_update_at: datetime | None = None
    last_update: str | None = None
    summary: str | None = None
    followups: list[str] = Field(default_factory=list)
    # Slack artefacts; filled in by provisioning, each step at most once.
    channel_id: str | None = None
    channel_name: str | None = None
    card_ts: str | None = None
    announcement_ts: str | None = None
    provisioned: bool = False
    provision_error: str | None = None
    # What Slack shows was rendered from this version; lower than `version` means stale.
    rendered_version: int = -1
    rendered_topic: str | None = None
    version: int = 0

    @property
    def commander(self) -> str | None:
        return self.roles.get(Role.COMMANDER)

    @property
    def most_severe(self) -> Severity:
        """The most severe grade this incident has had, now included."""
        return self.severity.worse(self.peak_severity)

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    def duration(self, now: datetime) -> float:
        end = self.resolved_at or now
        return max(0.0, (end - self.created_at).total_seconds())


Change = tuple[Incident, list[TimelineEntry]]


def _entry(now: datetime, actor: str, kind: str, text: str) -> TimelineEntry:
    return TimelineEntry(at=now, actor=actor, kind=kind, text=text)


def _require_open(incident: Incident, doing: str) -> None:
    if not incident.is_open:
        raise InvalidTransition(
            f"{incident.id} is already resolved, so it cannot be {doing}. "
            "Declare a new incident with `/incident declare <title>` if the problem is back."
        )


def acknowledge(incident: Incident, actor: str, now: datetime) -> Change:
    _require_open(incident, "acknowledged")
    if incident.acknowledged_at is not None:
        return incident, []
    new = incident.model_copy(
        update={
            "acknowledged_at": now,
            "status": Status.ACKNOWLEDGED
            if incident.status is Status.DECLARED
            else incident.status,
        }
    )
    return new, [_entry(now, actor, "status", f"Acknowledged by {mention(actor)}")]


def change_severity(incident: Incident, actor: str, severity: Severity, now: datetime) -> Change:
    _require_open(incident, "re-graded")
    if incident.severity is severity:
        return incident, []
    peak = severity.worse(incident.most_severe)
    new = incident.model_copy(update={"severity": severity, "peak_severity": peak})
    text = f"Severity {incident.severity.value} → {severity.value} by {mention(actor)}"
    return new, [_entry(now, actor, "severity", text)]


def assign(incident: Incident, actor: str, role: Role, user: str, now: datetime) -> Change:
    _require_open(incident, "re-assigned")
    if incident.roles.get(role) == user:
        return incident, []
    roles = dict(incident.roles)
    roles[role] = user
    new = incident.model_copy(update={"roles": roles})
    text = f"{mention(user)} is now {role.value} (set by {mention(actor)})"
    return new, [_entry(now, actor, "role", text)]


def post_update(incident: Incident, actor: str, text: str, now: datetime) -> Change:
    _require_open(incident, "updated")
    new = incident.model_copy(update={"last_update": text, "last_update_at": now})
    said = f"📣 Update from {mention(actor)}: {with_mentions(text)}"
    return new, [_entry(now, actor, "update", said)]


def add_note(incident: Incident, actor: str, text: str, now: datetime) -> Change:
    return incident, [_entry(now, actor, "note", f"📝 {mention(actor)}: {with_mentions(text)}")]


def add_followup(incident: Incident, actor: str, text: str, now: datetime) -> Change:
    new = incident.model_copy(update={"followups": [*incident.followups, text]})
    return new, [
        _entry(now, actor, "followup", f"Action item from {mention(actor)}: {with_mentions(text)}")
    ]


def mitigate(incident: Incident, actor: str, now: datetime) -> Change:
    _require_open(incident, "marked mitigated")
    if incident.mitigated_at is not None:
        return incident, []
    new = incident.model_copy(
        update={
            "mitigated_at": now,
            "status": Status.MITIGATED,
            "acknowledged_at": incident.acknowledged_at or now,
        }
    )
    return new, [_entry(now, actor, "status", f"Mitigated (confirmed by {mention(actor)})")]


def resolve(incident: Incident, actor: str, summary: str | None, now: datetime) -> Change:
    if not incident.is_open:
        return incident, []
    new = incident.model_copy(
        update={
            "resolved_at": now,
            "status": Status.RESOLVED,
            "acknowledged_at": incident.acknowledged_at or now,
            "mitigated_at": incident.mitigated_at or now,
            "summary": summary or incident.summary,
        }
    )
    text = f"Resolved by {mention(actor)}" + (f": {with_mentions(summary)}" if summary else "")
    return new, [_entry(now, actor, "status", text)]


def declared_entry(incident: Incident) -> TimelineEntry:
    return _entry(
        incident.created_at,
        incident.reporter,
        "status",
        f"Declared {incident.severity.value}"
        f"{' and acknowledged' if incident.acknowledged_at else ''} by "
        f"{mention(incident.reporter)}: {escape(incident.title)}",
    )


def pinned_entry(actor: str, author: str | None, text: str, now: datetime) -> TimelineEntry:
    said = f"{mention(author)}: " if author else ""
    by = "" if actor == author else f" (pinned by {mention(actor)})"
    return _entry(now, actor, "pin", f"📌 {said}{requote(text)}{by}")


def parse_incident_id(token: str) -> str | None:
    """`inc-42` → `INC-42`; anything else → None."""
    match = INCIDENT_ID.match(token.strip())
    return f"INC-{int(match.group(1))}" if match else None


RoleName = Literal["commander", "comms", "scribe"]
