"""What a person reads when their command did not happen: the command they typed, named by its
first word, escaped like anything else a person typed (signed requests, the Slack double)."""

from __future__ import annotations

import pytest

from bot.commands.parser import Command
from bot.errors import Unavailable
from bot.interaction import Actor, Reply
from bot.sandbox.doubles.slack import mrkdwn as slack
from tests.harness import Harness


async def test_a_failed_command_echoes_its_first_word_without_pinging(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    dispatcher = h.app.services.dispatcher

    def parse(text: str) -> Command:
        raise RuntimeError("the parser broke")  # anything unexpected, before a word is checked

    monkeypatch.setattr(dispatcher, "parse", parse)
    await h.command(h.carol, "<!channel> & <https://evil.example|sso> now")
    [said] = [e.text or "" for e in h.slack.ephemerals(user_id=h.carol)]
    assert slack.notifies(said) == [] and slack.links(said) == [], said
    assert "`/incident <!channel>` did not happen" in slack.shown(said), said


async def test_redis_away_after_a_declare_names_the_command(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    dispatcher = h.app.services.dispatcher

    async def unavailable(cmd: Command, actor: Actor) -> Reply:
        raise Unavailable("Redis did not answer")

    monkeypatch.setattr(dispatcher, "command", unavailable)
    await h.command(h.carol, "declare\n<!channel> down")
    [said] = [e.text or "" for e in h.slack.ephemerals(user_id=h.carol)]
    assert slack.notifies(said) == [], said
    assert slack.shown(said).startswith("⚠️ `/incident declare` did not happen"), said
    assert "Try again in a minute" in said
