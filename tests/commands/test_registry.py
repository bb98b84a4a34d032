"""The router's one table of subcommands: every subcommand it parses reaches a handler that
answers, only those about one incident look the incident up, and `help` lists them all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import incident as model
from bot.blockkit import unescape
from bot.commands.dispatch import Dispatcher
from bot.commands.parser import OnIncident, Subcommand, Subcommands
from bot.incident import Incident, Severity
from bot.interaction import Actor, Reply
from bot.policy.authority import Authority
from bot.policy.authorizer import Authorizer
from bot.policy.models import default_policy
from tests.clock import ManualClock

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

# One invocation per subcommand; those about an incident name INC-7.
EXAMPLES = {
    "declare": "declare",
    "ack": "ack INC-7",
    "severity": "severity INC-7 P1",
    "assign": "assign INC-7 comms <@U2>",
    "update": "update INC-7 rolled back to 1.4.1",
    "note": "note INC-7 cache cleared",
    "followup": "followup INC-7 alert on pool size",
    "mitigated": "mitigated INC-7",
    "resolve": "resolve INC-7",
    "status": "status INC-7",
    "timeline": "timeline INC-7",
    "report": "report INC-7",
    "list": "list",
    "playbook": "playbook",
    "help": "help",
}


class _Store:
    """Just enough of the store for each handler to answer (changes are applied for real)."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident

    async def claim(self, kind: str, key: str, ttl: int) -> bool:
        return True

    async def list_incidents(self, open_only: bool) -> list[Incident]:
        return []

    async def mutate(
        self, incident_id: str, change: Callable[[Incident], model.Change]
    ) -> model.Change:
        assert incident_id == self.incident.id
        self.incident, entries = change(self.incident)
        return self.incident, entries

    async def timeline(self, incident_id: str) -> list[Any]:
        return []


class _Incidents:
    def __init__(self) -> None:
        self.store = _Store(
            Incident(id="INC-7", number=7, title="Checkout 500s", severity=Severity.P2,
                     reporter="U1", created_at=NOW)
        )  # fmt: skip
        self.clock = ManualClock(NOW)
        self.looked_up: list[str | None] = []

    async def resolve_target(self, incident_id: str | None, channel: str, usage: str) -> Incident:
        self.looked_up.append(incident_id)
        return self.store.incident


async def no_groups(group: str) -> list[str]:
    return []


async def test_every_subcommand_reaches_a_handler_that_answers() -> None:
    incidents = _Incidents()
    # The built-in policy: everyone may run the whole lifecycle (refusals: tests/policy).
    authority = Authority(Authorizer(default_policy(), no_groups), incidents.store, incidents.clock)  # type: ignore[arg-type]
    router = Dispatcher(incidents, authority=authority)  # type: ignore[arg-type]
    names = [sub.name for sub in router.subcommands]
    assert sorted(names) == sorted(EXAMPLES), "give every subcommand an example here"
    for sub in router.subcommands:
        incidents.looked_up.clear()
        cmd = router.parse(EXAMPLES[sub.name])
        assert cmd.name == sub.name and not cmd.action
        reply = await router.command(cmd, Actor("U1", "C1", f"trigger-{sub.name}"))
        assert isinstance(reply, Reply) and (reply.text or reply.view), sub.name
        about_one = "INC-7" in EXAMPLES[sub.name]
        assert incidents.looked_up == (["INC-7"] if about_one else []), sub.name
        assert sub.needs_incident == about_one, sub.name


async def test_help_lists_every_subcommand_the_parser_accepts() -> None:
    router = Dispatcher(_Incidents())  # type: ignore[arg-type]
    reply = await router.command(router.parse("help"), Actor("U1", "C1", "t"))
    assert reply.text is not None
    for sub in router.subcommands:
        assert f"/incident {sub.usage}" in unescape(reply.text)
        for word in (sub.name, *sub.aliases):
            assert router.parse(EXAMPLES[sub.name].replace(sub.name, word, 1)).name == sub.name


def test_a_word_means_one_subcommand() -> None:
    async def answer(cmd: Any, actor: Actor) -> Reply:
        return Reply(text="ok")

    async def on_incident(cmd: Any, actor: Actor, incident: Incident) -> Reply:
        return Reply(text="ok")

    table = Subcommands(
        Subcommand("ack", "ack", "acknowledge", OnIncident(on_incident), aliases=("a",)),
        Subcommand("about", "about", "about Fireline", answer),
    )
    assert [s.name for s in table] == ["ack", "about"] and table["a"].name == "ack"
    with pytest.raises(ValueError, match="two subcommands are called 'a'"):
        Subcommands(
            Subcommand("ack", "ack", "acknowledge", OnIncident(on_incident), aliases=("a",)),
            Subcommand("a", "a", "another", answer),
        )
