"""What `/incident …` text means, and what a typo is told to type instead."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.blockkit import unescape
from bot.commands import messages
from bot.commands.dispatch import Dispatcher
from bot.commands.parser import Command
from bot.errors import UsageError
from bot.incident import Role, Severity

# The router owns the table of subcommands; parsing needs nothing else of it.
ROUTER = Dispatcher(SimpleNamespace(store=None, clock=None))  # type: ignore[arg-type]


def parse(text: str) -> Command:
    return ROUTER.parse(text)


def test_declare_with_severity_and_title() -> None:
    cmd = parse("declare P1 Checkout returns 500 for everyone")
    assert cmd.name == "declare"
    assert cmd.severity is Severity.P1 and cmd.severity_given
    assert cmd.text == "Checkout returns 500 for everyone"


def test_declare_without_severity_leaves_default_to_caller() -> None:
    cmd = parse("declare  Login   is slow ")
    assert cmd.severity is None and not cmd.severity_given
    assert cmd.text == "Login is slow"


def test_declare_without_title_means_the_form() -> None:
    assert parse("declare").text is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("declare P5 Broken", "`P5` is not a severity"),
        ("declare P1", "Give the incident a title"),
        ("declare " + "x" * 151, "keep it to at most 150"),
        ("severity P7", "`P7` is not a severity"),
        ("severity", "is not a severity"),
        ("assign boss <@U123>", "`boss` is not a role"),
        ("assign commander alice", "`alice` is not a person"),
        ("assign commander", "Name a role and a person"),
        ("update", "Add the text: `/incident update <text>`"),
        ("note", "Add the text"),
        ("ack now please", "was not expected here"),
        ("acknowlege", "Did you mean `/incident ack"),
        ("resolv", "Did you mean `/incident resolve`"),
        ("frobnicate", "`frobnicate` is not an `/incident` command"),
        ("INC-4 ack", "Put the subcommand first"),
        ("update " + "y" * 3001, "Split it in two"),
    ],
)
def test_mistakes_say_what_to_type(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert expected in unescape(str(err.value))
    assert "`" in str(err.value)  # always shows something to type


def test_incident_id_after_subcommand_is_taken_and_normalised() -> None:
    cmd = parse("ack inc-0042")
    assert cmd.incident_id == "INC-42"
    cmd = parse("update INC-7 Rolled back to 1.4.1, errors falling")
    assert cmd.incident_id == "INC-7" and cmd.text == "Rolled back to 1.4.1, errors falling"


def test_id_inside_update_text_is_text() -> None:
    cmd = parse("update same cause as INC-3")
    assert cmd.incident_id is None and cmd.text == "same cause as INC-3"


def test_assign_takes_slack_escaped_mentions() -> None:
    cmd = parse("assign comms <@U0ABC|dana>")
    assert cmd.role is Role.COMMS and cmd.user == "U0ABC"


def test_aliases_and_empty_text() -> None:
    assert parse("").name == "help"
    assert parse("sev P0").severity is Severity.P0
    assert parse("resolved").name == "resolve"


def test_help_lists_every_subcommand() -> None:
    usage = messages.usage(ROUTER.subcommands)
    for sub in ROUTER.subcommands:
        assert f"/incident {sub.usage}" in unescape(usage)


def test_typed_text_is_decoded_from_slack_s_form() -> None:
    """Slack sends `&`, `<`, `>` encoded and a picked person as `<@U…|name>`: what was typed is
    what the command gets, the mention kept for the text that shows it (`with_mentions`)."""
    from bot.blockkit import with_mentions

    note = parse("note &lt;b&gt; &amp;lt; ask <@U0DANA|dana> <!channel>")
    assert note.text is not None
    assert with_mentions(note.text) == "&lt;b&gt; &amp;lt; ask <@U0DANA> @channel"
    title = parse("declare P1 Checkout &amp; payments <@U0DANA|dana>").text
    assert title == "Checkout & payments @dana"  # a title mentions no one
    action = ROUTER.subcommands.parse("logs checkout --grep 'a&lt;b|c&amp;d'", ["logs"])
    assert action.action and action.text == "checkout --grep 'a<b|c&d'"


def test_severity_takes_the_incident_id_before_or_after_the_level() -> None:
    """Outside the incident's channel people type `severity P0 INC-1` as often as
    `severity INC-1 P0`; both name the same change."""
    for text in ("severity INC-1 P0", "severity P0 INC-1", "sev p0 inc-1"):
        cmd = parse(text)
        assert (cmd.incident_id, cmd.severity) == ("INC-1", Severity.P0), text
    with pytest.raises(UsageError, match="is not a severity"):
        parse("severity P0 INC-1 now")


def test_a_long_unknown_word_or_flag_is_shown_back_cut_not_whole() -> None:
    """A 1 MB word answered with the whole of it would be a 1 MB ephemeral (Slack refuses it,
    and the person reads nothing): what they typed is shown back cut, with what to type."""
    with pytest.raises(UsageError) as unknown:
        parse("x" * 1_000_000)
    said = str(unknown.value)
    assert len(said) < 200 and "x…` is not an `/incident` command" in said
    with pytest.raises(UsageError) as extra:
        parse("ack " + "y" * 100_000)
    assert len(str(extra.value)) < 200 and "y…` was not expected here" in str(extra.value)


async def test_help_about_a_mention_shows_its_name_not_a_marker() -> None:
    from bot.interaction import Actor

    cmd = parse("help <@U0DANA|dana>")
    with pytest.raises(UsageError) as asked:
        await ROUTER.command(cmd, Actor("U1", "C1", "t"))
    said = str(asked.value)
    assert said.startswith("`@dana` is not an `/incident` command"), said
    assert not any("\ue000" <= ch <= "\uf8ff" for ch in said), said
