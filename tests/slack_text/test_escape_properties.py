"""The one escaping function and the helpers that alone write `<…>`, checked against Slack's
reading of mrkdwn (the Slack double's `mrkdwn` module, written from Slack's rules)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.blockkit import (
    channel,
    code,
    code_block,
    escape,
    link,
    requote,
    shown,
    slack_date,
    unescape,
    user,
    usergroup,
)
from bot.sandbox.doubles.slack import mrkdwn as slack

pytestmark = pytest.mark.slow  # property tests

HOSTILE = [
    "<!channel>",
    "<!everyone>",
    "<!here|here>",
    "<https://evil.example|sso.example.com>",
    "<@U0123ABCD>",
    "<#C0123ABCD>",
    "<!subteam^S0123|@oncall>",
    "<!date^1^{time}|x>",
    "&lt;!channel&gt;",
    "&amp;",
    "a & b < c > d",
    "diagnose <deployment>",
]
# Text as people, alerts and logs write it, weighted towards Slack's special characters.
text = st.text(
    alphabet=st.one_of(st.sampled_from("<>&|!@#^;`*_~\n "), st.characters()), max_size=200
) | st.sampled_from(HOSTILE)


@given(text)
@example("<!channel> & <https://evil.example|sso.example.com>")
def test_slack_shows_escaped_text_exactly_as_it_was(value: str) -> None:
    escaped = escape(value)
    assert slack.shown(escaped) == value
    assert unescape(escaped) == value
    assert slack.tokens(escaped) == []


@given(text)
def test_no_mention_broadcast_or_link_survives_escaping(value: str) -> None:
    escaped = escape(value)
    for opener in ("<!", "<@", "<#", "<http", "<"):
        assert opener not in escaped
    assert ">" not in escaped
    assert slack.notifies(escaped) == [] and slack.links(escaped) == []


@given(text)
def test_code_spans_and_blocks_show_the_text_and_act_on_nothing(value: str) -> None:
    for wrapped, inner in ((code(value), value), (code_block(value), value)):
        assert slack.tokens(wrapped) == []
        assert inner in slack.shown(wrapped)


@given(text)
def test_an_id_of_the_wrong_shape_is_shown_never_mentioned(value: str) -> None:
    for made, empty in ((user(value), "—"), (channel(value), "—"), (usergroup(value), "")):
        found = slack.tokens(made)
        assert all(t.target == value and "<" not in value for t in found)
        if not found:
            assert slack.shown(made) == (value or empty)


def test_real_ids_are_mentions() -> None:
    assert slack.tokens(user("U0123ABCD")) == [slack.Token("user", "U0123ABCD", "")]
    assert slack.tokens(channel("C0123ABCD")) == [slack.Token("channel", "C0123ABCD", "")]
    assert slack.notifies(usergroup("S0123ABC")) == ["subteam^S0123ABC"]
    assert slack.shown(user("alertmanager")) == "alertmanager"
    assert slack.shown(user("U1> <!channel")) == "U1> <!channel"


@given(text, text)
@example("https://grafana.example/d/x?a=1&b=<2>", "Graph")
@example("javascript:alert(1)", "Runbook")
@example("https://evil.example|sso.example.com", "Runbook")
@example("https://ok.example", "<!channel>")
def test_links_go_only_to_http_and_show_their_label(url: str, label: str) -> None:
    made = link(url, label)
    found = slack.tokens(made)
    if found:
        (token,) = found
        assert token.kind == "link" and token.target == url
        assert url.lower().startswith(("http://", "https://"))
        assert slack.shown(made) == (label.replace("|", "¦") or url)
    else:
        assert slack.notifies(made) == [] and label in slack.shown(made)


def test_dates_are_slack_dates_with_a_fallback() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    (token,) = slack.tokens(slack_date(when, "{time}"))
    assert token.kind == "date" and token.label == "2026-01-02 03:04 UTC"


@given(text)
@example("ping <!channel> and <@U1|dana> in <#C1|ops>, see <https://x.example|this> &amp; that")
def test_a_posted_message_requoted_pings_only_the_people_it_named(value: str) -> None:
    quoted = requote(value)
    assert all(t.kind in ("user", "channel") for t in slack.tokens(quoted))
    assert slack.links(quoted) == [] and "<!" not in quoted


def test_shown_turns_mrkdwn_back_into_words() -> None:
    made = f"{user('U1')} set {escape('a<b>&c')} in {channel('C9')} {link('https://x.y', 'doc')}"
    assert shown(made, {"U1": "dana"}) == "@dana set a<b>&c in #C9 doc (https://x.y)"
