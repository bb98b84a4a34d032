"""Property of `/incident` parsing: any text a person can type becomes a `Command` or a
`UsageError` that says what to type instead; no other exception reaches the handler. Then the
same for the arguments of every action the bot is built with (diagnostics and remediations)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.dispatch import Dispatcher
from bot.commands.parser import Command
from bot.diagnostics.actions import default_actions
from bot.errors import UsageError
from bot.remediation.actions import default_remediations

ACTIONS = {a.name: a for a in (*default_actions(), *default_remediations())}
# The dispatcher owns the table of subcommands; parsing needs nothing else of it.
SUBCOMMANDS = Dispatcher(SimpleNamespace(store=None, clock=None)).subcommands  # type: ignore[arg-type]
NAMES = {sub.name for sub in SUBCOMMANDS}
WORDS = sorted({*NAMES, *(a for sub in SUBCOMMANDS for a in sub.aliases), *ACTIONS})
# Pieces of what people type: subcommands, IDs, severities, roles, mentions, flags, quotes.
PIECES = st.sampled_from(
    [*WORDS, "INC-1", "inc-0", "P0", "p9", "sev1", "commander", "<@U123>", "<@U1|x>", "<#C1>",
     "-n", "--namespace", "--since", "--grep", "--cluster", "--to-revision", "--previous",
     "'", '"', "\\", "=", "app=x", "orion-x/../../api", "0", "-1", "99999999999999999999"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(),
    st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=8).map(" ".join),
)


def said_what_to_type(exc: UsageError) -> None:
    assert str(exc).strip(), "a UsageError must say what to type instead"


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(text=TEXT)
def test_any_text_is_a_command_or_a_usage_error(text: str) -> None:
    try:
        command = SUBCOMMANDS.parse(text, ACTIONS)
    except UsageError as exc:
        said_what_to_type(exc)
        return
    assert isinstance(command, Command)
    assert command.name in NAMES or command.name in ACTIONS


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(sorted(ACTIONS)), text=TEXT)
def test_any_arguments_are_params_or_a_usage_error(name: str, text: str) -> None:
    action = ACTIONS[name]
    try:
        params = action.parse(text)
    except UsageError as exc:
        said_what_to_type(exc)
        return
    assert isinstance(params, action.Params)
