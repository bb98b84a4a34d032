"""Properties of the webhook parser: whatever an authenticated sender posts becomes a
`Notification` or a `MalformedPayload` with the reason (a 400), never any other exception (a
500, which Alertmanager would retry forever)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.payload import MAX_PAYLOAD_BYTES, MalformedPayload, Notification, parse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ("version", "groupKey", "status", "receiver", "alerts", "groupLabels", "commonLabels")
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "fingerprint")


def notification(**overrides: Any) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate"},
        "annotations": {},
        "startsAt": "2024-05-01T10:00:00Z",
        "fingerprint": "abc",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "firing",
        "receiver": "fireline",
        "alerts": [alert],
        **overrides,
    }


def parses_or_says_why(body: bytes) -> Notification | None:
    try:
        return parse(body)
    except MalformedPayload as exc:
        assert str(exc), "a refusal must say why"
        return None


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=2048))
def test_any_bytes(body: bytes) -> None:
    parses_or_says_why(body)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_any_json_value(value: Any) -> None:
    parses_or_says_why(json.dumps(value).encode())


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_any_value_in_any_field(field: str, value: Any) -> None:
    parses_or_says_why(json.dumps(notification(**{field: value})).encode())


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(ALERT_FIELDS), value=json_values, extra=json_values)
def test_any_value_in_any_alert_field_and_unknown_fields_kept(
    field: str, value: Any, extra: Any
) -> None:
    payload = notification(routeLabels=extra)
    payload["alerts"][0][field] = value
    parsed = parses_or_says_why(json.dumps(payload).encode())
    if parsed is not None:
        assert parsed.model_extra == {"routeLabels": extra}


@settings(deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=())))
def test_strings_json_cannot_encode_again_are_refused(text: str) -> None:
    # json.dumps escapes lone surrogates ("\ud800"), which Python's parser accepts and
    # `.encode()` later refuses; the parser must refuse them up front.
    parsed = parses_or_says_why(json.dumps(notification(groupKey=text or "k")).encode())
    if parsed is not None:
        assert parsed.group_id  # hashes groupKey.encode()


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_deep_nesting_is_refused_with_the_reason(depth: int) -> None:
    with pytest.raises(MalformedPayload, match="depth"):
        parse(b'{"version": "4", "x": ' + b"[" * depth + b"]" * depth + b"}")


@pytest.mark.parametrize("version", [[], {}, 4, "3", None])
def test_a_wrong_version_says_what_to_send(version: Any) -> None:
    with pytest.raises(MalformedPayload, match="version"):
        parse(json.dumps(notification(version=version)).encode())


def test_the_limit_is_the_one_documented() -> None:
    padded = json.dumps(notification()).encode().ljust(MAX_PAYLOAD_BYTES)
    assert parse(padded).status == "firing"
    with pytest.raises(MalformedPayload, match=str(MAX_PAYLOAD_BYTES)):
        parse(padded + b" ")
