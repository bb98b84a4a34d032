"""The incident state machine: transitions, idempotence, timeline entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import incident as model
from bot.errors import InvalidTransition
from bot.incident import Role, Severity, Status
from bot.incidents.provision import channel_name, with_suffix
from bot.store.store import new_incident

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def fresh() -> model.Incident:
    inc = new_incident(title="Checkout down", severity=Severity.P1, reporter="U1", now=T0)
    return inc.model_copy(update={"id": "INC-1", "number": 1})


def test_acknowledge_once() -> None:
    inc, entries = model.acknowledge(fresh(), "U2", T0 + timedelta(minutes=1))
    assert inc.status is Status.ACKNOWLEDGED and len(entries) == 1
    again, more = model.acknowledge(inc, "U3", T0 + timedelta(minutes=2))
    assert again == inc and more == []


def test_resolve_fills_missing_milestones_and_is_idempotent() -> None:
    inc, entries = model.resolve(fresh(), "U2", "Rolled back", T0 + timedelta(minutes=30))
    assert inc.status is Status.RESOLVED and inc.summary == "Rolled back"
    assert inc.acknowledged_at and inc.mitigated_at and entries[0].kind == "status"
    assert model.resolve(inc, "U2", None, T0 + timedelta(minutes=31)) == (inc, [])
    assert inc.duration(T0 + timedelta(hours=5)) == 30 * 60


def test_resolved_incident_refuses_changes_with_a_hint() -> None:
    inc, _ = model.resolve(fresh(), "U2", None, T0)
    with pytest.raises(InvalidTransition, match="/incident declare"):
        model.change_severity(inc, "U2", Severity.P0, T0)


def test_severity_and_roles_record_who_and_what() -> None:
    inc, entries = model.change_severity(fresh(), "U2", Severity.P0, T0)
    assert "P1 → P0" in entries[0].text and "<@U2>" in entries[0].text
    inc, entries = model.assign(inc, "U2", Role.SCRIBE, "U9", T0)
    assert inc.roles[Role.SCRIBE] == "U9" and entries
    assert model.assign(inc, "U2", Role.SCRIBE, "U9", T0)[1] == []


def test_channel_names_follow_slack_rules() -> None:
    name = channel_name("inc", "Checkout: 500s on /pay (EU) — Ünïcode!", T0, 7)
    assert name == "inc-20261122-checkout-500s-on-pay-eu-unicode"
    assert channel_name("inc", "🔥🔥", T0, 7) == "inc-20261122-inc-7"
    long = channel_name("inc", "word " * 40, T0, 1)
    assert len(long) <= 80 and not long.endswith("-")
    assert with_suffix(long, 1).endswith("-2") and len(with_suffix(long, 1)) <= 80
    assert all(c.islower() or c.isdigit() or c == "-" for c in long)
