"""Every Redis key Fireline writes has a lifetime, or a reason in docs/decisions/retention.md
why it has none. Two checks keep that true as keys are added:

- every name `bot.store.keys.Keys` can make belongs to exactly one family below, and every
  family is in the decision page's table;
- after a workload on the real Redis (an incident declared, a remediation approved and run,
  an alert group firing and resolving, the incident resolved), every key there belongs to a
  family, and each family that expires has a TTL set and within its bound (asserted, not
  waited for).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.remediation import views as approval_blocks
from bot.remediation.store import State
from bot.store.keys import Keys
from tests.harness import Builder, Harness
from tests.remediation.world import click, declare, remediation_world, until_state

ROOT = Path(__file__).resolve().parents[2]
DECISION = ROOT / "docs" / "decisions" / "retention.md"
FIXTURES = ROOT / "tests" / "fixtures" / "alertmanager"
HOUR, DAY = 3600, 86400


@dataclass(frozen=True)
class Family:
    name: str
    """As the decision page's table writes it."""
    pattern: str
    ttl: int | None = None
    """The most seconds its TTL may be; None: no TTL (kept, swept or removed when done)."""

    def matches(self, key: str) -> bool:
        return re.fullmatch(self.pattern, key) is not None


ANY, PART = r".+", r"[^:]+"
FAMILIES = (
    # The incident record and what hangs off it: kept.
    Family("incident:<id>", rf"incident:{PART}"),
    Family("incident:<id>:timeline", rf"incident:{PART}:timeline"),
    Family("incident:<id>:timeline-keys", rf"incident:{PART}:timeline-keys"),
    Family("incident:<id>:checklist:<minutes>", rf"incident:{PART}:checklist:\d+"),
    Family("incident:<id>:checklist:<minutes>:answers", rf"incident:{PART}:checklist:\d+:answers"),
    Family("incident:<id>:checklists", rf"incident:{PART}:checklists"),
    Family("incident:<id>:update-snooze", rf"incident:{PART}:update-snooze"),
    Family("channel:<channel>", rf"channel:{PART}"),
    Family("incidents:all", "incidents:all"),
    Family("incidents:open", "incidents:open"),
    Family("incidents:needs-attention", "incidents:needs-attention"),
    Family("seq:incident", "seq:incident"),
    Family("seq:remediation", "seq:remediation"),
    # Alerts.
    Family("alerts:inbox", "alerts:inbox"),
    Family("alertgroup:<group>", rf"alertgroup:{PART}"),
    Family("alertgroup:<group>:events", rf"alertgroup:{PART}:events"),
    Family("alertgroup:<group>:silence", rf"alertgroup:{PART}:silence", ttl=HOUR),
    Family("alertparent:<channel>:<ts>", rf"alertparent:{PART}:{PART}"),
    Family("alerts:retired", "alerts:retired"),
    Family("alerts:heartbeat", "alerts:heartbeat"),
    Family("storm:<channel>", rf"storm:{PART}"),
    Family("storm:<channel>:<n>:groups", rf"storm:{PART}:\d+:groups"),
    # The outbox.
    Family("outbox:channels", "outbox:channels"),
    Family("outbox:<channel>:queue", rf"outbox:{PART}:queue"),
    Family("outbox:<channel>:versions", rf"outbox:{PART}:versions"),
    Family("outbox:<channel>:attempts", rf"outbox:{PART}:attempts"),
    Family("outbox:<channel>:parked", rf"outbox:{PART}:parked"),
    Family("outbox:parked-channels", "outbox:parked-channels"),
    Family("outbox:<channel>:lease", rf"outbox:{PART}:lease", ttl=60),
    Family("outbox:sent", "outbox:sent"),
    Family("outbox:notes:<slot>", rf"outbox:notes:{ANY}"),
    # Once-only and short-lived.
    Family("claim:<scope>:<key>", rf"claim:{PART}:{ANY}", ttl=7 * DAY),
    Family("posted:<key>", rf"posted:{ANY}", ttl=7 * DAY),
    Family("lock:<name>", rf"lock:{ANY}", ttl=60),
    Family("rate:<user>", rf"rate:{PART}", ttl=HOUR),
    Family("slackrate:<bucket>", rf"slackrate:{ANY}", ttl=600),
    Family("audit", "audit"),
    # The scheduler.
    Family("jobs:due", "jobs:due"),
    Family("jobs:leased", "jobs:leased"),
    Family("job:<id>", rf"job:{ANY}"),
    Family("jobs:group:<group>", rf"jobs:group:{ANY}"),
    Family("job-done:<id>:<due>", rf"job-done:{ANY}", ttl=DAY),
    # Remediation.
    Family("remediation:<id>", rf"remediation:{PART}"),
    Family("remediations:active", "remediations:active"),
    Family("remediation-target:<target>", rf"remediation-target:{ANY}", ttl=DAY),
    Family("remediation-cooldown:<target>", rf"remediation-cooldown:{ANY}", ttl=DAY),
    Family("remediation-last:<target>", rf"remediation-last:{ANY}", ttl=30 * DAY),
)


def family_of(key: str) -> Family:
    found = [f for f in FAMILIES if f.matches(key)]
    assert found, (
        f"{key!r} belongs to no family: give it a lifetime (or say in {DECISION.name} why it "
        "has none) and add it here"
    )
    assert len(found) == 1, f"{key!r} matches {[f.name for f in found]}"
    return found[0]


def every_key_name() -> list[str]:
    """Each name `Keys` can make (prefix stripped), with sample arguments."""
    keys = Keys("")
    names = []
    for attr, member in inspect.getmembers(Keys):
        if attr.startswith("_") or attr == "prefix":
            continue
        if isinstance(member, property):
            # `job_prefix`, `job_done_prefix`: the start of names, completed as the code does.
            names.append(getattr(keys, attr) + ("x:1" if attr.endswith("_prefix") else ""))
        elif callable(member):
            method: Callable[..., str] = getattr(keys, attr)
            params = list(inspect.signature(method).parameters.values())
            args = [3 if p.annotation in (int, "int") else f"x{p.name}" for p in params]
            names.append(method(*args))
    return names


def test_every_key_name_has_a_family_and_every_family_is_in_the_decision_page() -> None:
    names = every_key_name()
    assert len(names) > 40
    for name in names:
        family_of(name)
    page = DECISION.read_text(encoding="utf-8")
    missing = [f.name for f in FAMILIES if f"`{f.name}`" not in page]
    assert not missing, f"not in {DECISION.name}'s table: {missing}"


async def test_after_a_workload_every_key_has_its_familys_lifetime(
    build: Callable[..., Builder],
) -> None:
    w: Harness = await remediation_world(build().channel("alerts"))
    _, channel = await declare(w, w.cleo, "P1 tasks failing")
    await w.command(w.rita, "scale task-service 4", channel=channel)
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    for name in ("firing-single.json", "resolved-single.json"):
        assert (await w.webhook((FIXTURES / name).read_bytes()))[0] == 200
        await w.alerts_done()
    await w.command(w.cleo, "resolve", channel=channel)

    redis, prefix = w.app.redis.client, w.app.settings.redis_prefix
    seen: set[str] = set()
    async for raw in redis.scan_iter(match=f"{prefix}*"):
        key = raw.decode()[len(prefix) :]
        family = family_of(key)
        seen.add(family.name)
        ttl = await redis.ttl(raw)
        if family.ttl is not None:
            assert 0 < ttl <= family.ttl, f"{key}: TTL {ttl}, expected 1..{family.ttl}"
        else:
            assert ttl == -1, f"{key}: TTL {ttl}; its family is kept or swept, not expiring"
    # The workload reached the families that matter here (a wider census would need more).
    reached = ("incident:<id>", "remediation:<id>", "alertgroup:<group>", "outbox:sent",
               "claim:<scope>:<key>", "slackrate:<bucket>", "audit", "alerts:retired")  # fmt: skip
    for name in reached:
        assert name in seen, f"the workload wrote no {name}: {sorted(seen)}"
