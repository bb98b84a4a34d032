"""Alertmanager v4 payloads: real captures parse; malformed ones are refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.alerts.payload import MalformedPayload, parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_captured_payloads_parse() -> None:
    single = parse(load("firing-single.json"))
    assert single.title == "HighErrorRate" and single.severity == "critical"
    assert single.summary == "Error rate > 5% for last 5 minutes"
    group = parse(load("firing-group-of-3.json"))
    assert len(group.alerts) == 3 and len({a.fingerprint for a in group.alerts}) == 3
    resolved = parse(load("resolved-single.json"))
    assert resolved.group_id == single.group_id and resolved.status == "resolved"
    assert resolved.alerts[0].event_key != single.alerts[0].event_key


def test_unknown_fields_from_newer_alertmanagers_are_accepted() -> None:
    data = json.loads(load("firing-single.json"))
    data["notification_reason"] = "new_alert"
    data["routeLabels"] = {"team": "orion"}
    data["alerts"][0]["someNewField"] = 1
    assert parse(json.dumps(data).encode()).title == "HighErrorRate"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: "not json", "body is not JSON"),
        (lambda d: [], "must be a JSON object"),
        (lambda d: {**d, "version": "3"}, "version '3' is not supported"),
        (lambda d: {k: v for k, v in d.items() if k != "groupKey"}, "groupKey"),
        (lambda d: {**d, "alerts": [{**d["alerts"][0], "status": "burning"}]}, "alerts.0.status"),
        (lambda d: {**d, "alerts": [{**d["alerts"][0], "fingerprint": ""}]}, "fingerprint"),
    ],
)
def test_malformed_payloads_say_why(mutate, reason) -> None:
    data = mutate(json.loads(load("firing-single.json")))
    body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    with pytest.raises(MalformedPayload, match=reason):
        parse(body)
