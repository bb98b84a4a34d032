"""Hostile HTTP against the running bot (issue 13, finding 7): whatever arrives is answered with
a 4xx that says what is wrong, never a 500, and what is refused is never logged."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from bot.alerts.payload import MAX_PAYLOAD_BYTES
from bot.runtime.log import quiet_malformed_requests
from handlers.http import MAX_SLACK_BODY
from handlers.signature import sign
from tests.handlers import rawhttp
from tests.harness import SIGNING_SECRET, WEBHOOK_TOKEN, Harness

MARK = "FORGED-LOG-LINE-7f3a"


def slack_url(h: Harness) -> str:
    return f"{h.app.url}/slack/events"


def webhook_url(h: Harness) -> str:
    return f"{h.app.url}/webhooks/alertmanager"


def slash_body(text: str = "help") -> bytes:
    return f"command=%2Fincident&text={text}&user_id=U1&channel_id=C1&team_id=T1".encode()


def signed(body: bytes, timestamp: str | None = None) -> list[tuple[bytes, bytes]]:
    ts = timestamp or str(int(time.time()))
    return [
        (b"Content-Type", b"application/x-www-form-urlencoded"),
        (b"X-Slack-Request-Timestamp", ts.encode()),
        (b"X-Slack-Signature", sign(SIGNING_SECRET.encode(), ts, body).encode()),
    ]


def notification(**overrides: Any) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "severity": "critical"},
        "annotations": {"summary": "errors"},
        "startsAt": "2024-05-01T10:00:00Z",
        "fingerprint": "f1",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "firing",
        "receiver": "fireline",
        "alerts": [alert],
        "commonLabels": alert["labels"],
        **overrides,
    }


def bearer(token: bytes = WEBHOOK_TOKEN.encode()) -> list[tuple[bytes, bytes]]:
    return [(b"Content-Type", b"application/json"), (b"Authorization", b"Bearer " + token)]


# --- Slack's endpoint ------------------------------------------------------------------------

MALFORMED_SIGNATURE_HEADERS = {
    "timestamp not a number": [(b"X-Slack-Request-Timestamp", b"abc")],
    "timestamp empty": [(b"X-Slack-Request-Timestamp", b"")],
    "timestamp a float": [(b"X-Slack-Request-Timestamp", b"1700000000.5")],
    "timestamp with a sign": [(b"X-Slack-Request-Timestamp", b"-1")],
    "timestamp in Arabic digits": [(b"X-Slack-Request-Timestamp", "١٧٠٠".encode())],
    "timestamp not UTF-8": [(b"X-Slack-Request-Timestamp", b"\xff\xfe17")],
    "signature not ASCII": [(b"X-Slack-Signature", "v0=é".encode() + b"0" * 63)],
    "signature not UTF-8": [(b"X-Slack-Signature", b"v0=\xff" + b"0" * 63)],
    "signature missing": [(b"X-Slack-Signature", b"")],
    "signature of another shape": [(b"X-Slack-Signature", b"v1=" + b"0" * 64)],
}


@pytest.mark.parametrize("case", sorted(MALFORMED_SIGNATURE_HEADERS))
async def test_malformed_signature_headers_get_401(harness: Harness, case: str) -> None:
    body = slash_body()
    headers = dict(signed(body))
    headers.update(dict(MALFORMED_SIGNATURE_HEADERS[case]))
    status, answer = await rawhttp.post(slack_url(harness), headers.items(), body)
    assert status == 401, answer
    assert answer["error"]


async def test_badly_signed_bodies_are_never_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = (f"text=x%0AINFO {MARK} admin logged in&" + "a" * (MAX_SLACK_BODY - 100)).encode()
    for _ in range(5):
        headers = [*signed(body)[:2], (b"X-Slack-Signature", b"v0=" + b"0" * 64)]
        status, _ = await rawhttp.post(slack_url(harness), headers, body)
        assert status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert MARK not in logged
    assert len(logged) < 5 * 200, "a refused request is logged in one short line"
    refusals = [r for r in caplog.records if "refused a request to /slack/events" in r.getMessage()]
    assert len(refusals) == 5
    assert f"({len(body)} bytes): signature does not match" in refusals[0].getMessage()


async def test_a_signed_request_is_still_served(harness: Harness) -> None:
    # The double signs exactly as Slack does; the bot answers its help.
    await harness.command(harness.alice, "help")
    await harness.told(harness.alice, "declare")


async def test_signed_but_not_utf8_is_400(harness: Harness) -> None:
    body = b"command=%2Fincident&text=\xff\xfe"
    status, answer = await rawhttp.post(slack_url(harness), signed(body), body)
    assert status == 400, answer


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_oversized_slack_request_is_413(harness: Harness, chunked: bool) -> None:
    body = b"a" * (MAX_SLACK_BODY + 1)
    status, _ = await rawhttp.post(slack_url(harness), signed(body), body, chunked=chunked)
    assert status == 413


# --- Alertmanager's webhook ------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer \xff\xfe", b"\xc3\x28", b"Bearer " + "é".encode(), b"", b"Bearer"],
    ids=["latin1", "invalid-utf8", "non-ascii", "empty", "no-token"],
)
async def test_webhook_bad_authorization_is_401(harness: Harness, authorization: bytes) -> None:
    headers = [(b"Content-Type", b"application/json"), (b"Authorization", authorization)]
    status, answer = await rawhttp.post(webhook_url(harness), headers, b"{}")
    assert status == 401, answer


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "4", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "depth"),
        (json.dumps(notification(version=[])).encode(), "version"),
        (json.dumps(notification(version={})).encode(), "version"),
        (json.dumps(notification(alerts={})).encode(), "alerts"),
        (json.dumps(notification(groupKey=[])).encode(), "groupKey"),
        (b'{"version": "4", "groupKey": "\\ud800"}', "surrogate"),
        (b"NaN", "not JSON"),
        (b"\xff", "not JSON"),
    ],
    ids=["deep", "version-list", "version-object", "alerts-object", "key-list", "surrogate",
         "nan", "binary"],
)  # fmt: skip
async def test_authenticated_malformed_bodies_are_400_with_the_reason(
    harness: Harness, body: bytes, reason: str
) -> None:
    status, answer = await rawhttp.post(webhook_url(harness), bearer(), body)
    assert status == 400, answer
    assert reason in answer["error"]


async def test_the_webhook_limit_is_the_documented_one(harness: Harness) -> None:
    fits = json.dumps(notification()).encode().ljust(MAX_PAYLOAD_BYTES)  # 4 MB, not 2
    status, answer = await rawhttp.post(webhook_url(harness), bearer(), fits)
    assert status == 200, answer
    for chunked in (False, True):
        status, answer = await rawhttp.post(
            webhook_url(harness), bearer(), fits + b" ", chunked=chunked
        )
        assert status == 413, answer
        assert str(MAX_PAYLOAD_BYTES) in answer["error"]


async def test_an_unparsable_request_is_400_and_one_warning_line(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who reaches the port can send a request aiohttp cannot parse: it answers 400,
    and the log gets one WARNING line, not an ERROR with a traceback per request."""
    quiet_malformed_requests()
    name, value = b"X-Big", b"A" * 20_000  # past aiohttp's 8 KB limit on a header line
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        status, _ = await rawhttp.post(slack_url(harness), [(name, value)], slash_body())
    assert status == 400
    said = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelname, r.getMessage()) for r in said] == [
        ("WARNING", "refused a malformed HTTP request (400): LineTooLong")
    ]
    assert all(r.exc_info is None for r in said)
