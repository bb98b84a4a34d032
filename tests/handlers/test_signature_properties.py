"""Properties of the Slack signature check: it never raises, whatever the headers hold, and it
accepts exactly what Slack signed within the five-minute window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.signature import MAX_SKEW_S, sign, signature_problem

SECRET = b"property-signing-secret"
NOW = 1_700_000_000.0

# Header values as aiohttp hands them over: any text, including non-ASCII and the lone
# surrogates it makes of non-UTF-8 bytes; plus shapes close to the real ones.
header_text = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.text(alphabet=st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)),
    st.from_regex(r"\Av0=[0-9a-fA-F]{0,70}\Z"),
    st.builds(str, st.integers()),
    st.builds(str, st.floats(allow_nan=True)),
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(timestamp=header_text, signature=header_text, body=st.binary(max_size=512))
def test_any_headers_are_judged_never_raise(
    timestamp: str | None, signature: str | None, body: bytes
) -> None:
    problem = signature_problem(SECRET, timestamp, signature, body, NOW)
    assert problem is None or isinstance(problem, str)
    if problem is None:  # only ever what we would have signed, within the window
        assert timestamp is not None and signature == sign(SECRET, timestamp, body)
        assert abs(NOW - int(timestamp)) <= MAX_SKEW_S


@settings(deadline=None)
@given(body=st.binary(max_size=2048), skew=st.integers(-MAX_SKEW_S, MAX_SKEW_S))
def test_what_slack_signs_within_the_window_is_accepted(body: bytes, skew: int) -> None:
    timestamp = str(int(NOW) + skew)
    assert signature_problem(SECRET, timestamp, sign(SECRET, timestamp, body), body, NOW) is None


@settings(deadline=None)
@given(body=st.binary(max_size=512), other=st.binary(max_size=512))
def test_a_signature_holds_for_its_own_body_only(body: bytes, other: bytes) -> None:
    timestamp = str(int(NOW))
    problem = signature_problem(SECRET, timestamp, sign(SECRET, timestamp, body), other, NOW)
    assert (problem is None) == (body == other)


@settings(deadline=None)
@given(skew=st.integers(MAX_SKEW_S + 1, 10**9))
def test_old_or_future_timestamps_are_replays(skew: int) -> None:
    for timestamp in (str(int(NOW) - skew), str(int(NOW) + skew)):
        signature = sign(SECRET, timestamp, b"x") if timestamp.isdigit() else "v0=" + "0" * 64
        assert signature_problem(SECRET, timestamp, signature, b"x", NOW) is not None
