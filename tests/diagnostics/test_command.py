"""`/incident <action> …`: parsing, what bad input is told, and posting results."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.blockkit import unescape
from bot.commands.dispatch import Dispatcher
from bot.commands.parser import Command
from bot.errors import UsageError
from bot.interaction import Actor
from tests.diagnostics.conftest import RESPONDER, VIEWER, Rig

NAMES = ["pods", "logs", "events", "diagnose", "query"]


def parse(text: str, actions: list[str]) -> Command:
    """The router's table of subcommands, with these action names beside it."""
    router = Dispatcher(SimpleNamespace(store=None, clock=None))  # type: ignore[arg-type]
    return router.subcommands.parse(text, actions)


def test_action_words_become_action_commands_keeping_quotes() -> None:
    cmd = parse("logs task-service --grep 'db  timeout'", NAMES)
    assert cmd.action and cmd.name == "logs" and cmd.text == "task-service --grep 'db  timeout'"
    assert not parse("status", NAMES).action


def test_unknown_word_suggests_an_action() -> None:
    with pytest.raises(UsageError, match="Did you mean `/incident diagnose`"):
        parse("diagnos task-service", NAMES)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("pods", "", "Say which target: `/incident pods <deployment|label-selector>"),
        ("pods", "a b", "`b` was not expected here. Type `/incident pods"),
        ("pods", "a -x", "`-x` is not an option here. Type `/incident pods"),
        ("pods", "a -n", "`-n` needs a value after it"),
        ("logs", "a --since 10min", "`--since` must be a duration such as 30s, 10m, 2h or 1d"),
        ("logs", "a --grep '('", "`--grep` has an unmatched bracket; put `\\`"),
        ("logs", "a --grep 'unclosed", "do not parse: a quote is opened and never closed"),
        # In words, named as typed: not pydantic's "`range_minutes` Input should be greater
        # than or equal to 1", "`replicas` Input should be a valid integer, unable to parse
        # string as an integer" or "`grep` String should have at most 200 characters".
        ("query", "error-rate --range 0", "`--range` must be 1 or more (not 0). Type"),
        ("query", "error-rate --range abc", "`--range` must be a whole number, like 3 (not abc)"),
        (
            "logs",
            "a --grep " + "a" * 5000,
            "`--grep` may be at most 200 characters long; this one is 5000. Type `/incident logs",
        ),
    ],
)
def test_bad_input_says_what_to_type(rig: Rig, name: str, text: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        rig.action(name).parse(text)
    assert expected in unescape(str(err.value))


async def test_command_acks_then_posts_result_in_channel_with_files_in_thread(rig: Rig) -> None:
    actor = Actor(RESPONDER, "CWARROOM", "trig-1")
    reply = await rig.service.command("logs", "task-service", actor)
    assert reply.text == "Running `logs` on `task-service` …"
    # Nothing typed after it: not "Running `events` on `the defaults` …" (a walk read that
    # as an argument called "the defaults").
    bare = await rig.service.command("events", "  ", actor)
    assert bare.text == "Running `events` …"
    assert reply.later is not None
    assert await reply.later() is None
    post = rig.slack.posts[0]
    assert post["channel"] == "CWARROOM" and "Logs of `task-service`" in post["text"]
    assert len(post["blocks"]) <= 50
    assert rig.slack.files and rig.slack.files[0]["thread_ts"] == "1700000000.000001"


async def test_denied_command_is_told_only_to_the_person(rig: Rig) -> None:
    reply = await rig.service.command("logs", "task-service", Actor(VIEWER, "C1", "t"))
    assert reply.later is not None
    told = await reply.later()
    assert told is not None
    assert told.startswith("🚫 `logs` needs the role") and not rig.slack.posts


async def test_rate_limit_per_user(kube_api, diag_store) -> None:
    from bot.policy.models import RateLimit
    from tests.diagnostics.conftest import make_policy, make_rig

    rig = make_rig(kube_api, diag_store, make_policy(rate_limit=RateLimit(per_minute=2)))
    outcomes = [(await rig.run(VIEWER, "events")).outcome for _ in range(3)]
    assert outcomes == ["ok", "ok", "rate-limited"]
    assert (await rig.run(RESPONDER, "events")).outcome == "ok"  # per user


async def test_help_lists_the_actions_with_their_docstrings(rig: Rig) -> None:
    # A stand-in with only what help reads, not an IncidentService.
    dispatcher = Dispatcher(incidents=_Incidents(rig.store), diagnostics=rig.service)  # type: ignore[arg-type]
    reply = await dispatcher.command(dispatcher.parse("help"), Actor("U1", "C1", "t"))
    assert reply.text is not None
    assert "/incident diagnose <deployment> [-n namespace]" in unescape(reply.text)
    assert "Names the likely cause of a deployment" in reply.text
    # One line each in the list: an action's help up to its first clause, the whole on asking.
    assert "with its evidence: pods and why they fail" not in reply.text
    assert "`/incident help <command>` explains one" in unescape(reply.text)
    one = await dispatcher.command(dispatcher.parse("help diagnose"), Actor("U1", "C1", "t"))
    assert one.text is not None and len(one.text) < len(reply.text) / 3
    assert unescape(one.text).startswith("`/incident diagnose <deployment> [-n namespace]`\n")
    assert "with its evidence: pods and why they fail" in one.text
    sub = await dispatcher.command(dispatcher.parse("help sev"), Actor("U1", "C1", "t"))
    assert sub.text is not None and "change the severity" in sub.text
    with pytest.raises(UsageError, match="Did you mean `/incident help diagnose`"):
        await dispatcher.command(dispatcher.parse("help diagnos"), Actor("U1", "C1", "t"))


class _Incidents:
    def __init__(self, store) -> None:
        self.store = store
        self.clock = None


async def test_playbooks_run_actions_by_name_with_data(rig: Rig) -> None:
    run = await rig.service.run_named(
        "pods", {"target": "task-service", "namespace": "orion-prod"}, user=VIEWER, incident=None
    )
    assert run.outcome == "ok" and run.result is not None
    assert "3/5 pods ready" in run.result.headline[0]
    with pytest.raises(UsageError, match="Did you mean `pods`"):
        await rig.service.run_named("podz", {}, user=VIEWER, incident=None)
    with pytest.raises(UsageError, match="`since` must be a duration"):
        await rig.service.run_named(
            "logs", {"target": "x", "since": "forever"}, user=RESPONDER, incident=None
        )
