"""Which playbook fits an alert: alert names first, then symptom keywords, label matchers filter.

Pure functions. A playbook is a candidate when every one of its label matchers matches and its
alert names or one of its keywords do; among candidates, an exact alert name beats a pattern,
which beats keywords alone; then more label matchers (more specific), then more keyword hits,
then the name (so the answer never depends on file order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from bot.playbooks.models import Playbook, glob_any
from bot.runtime.patterns import Pattern, escape, linear

TEXT_ANNOTATIONS = ("summary", "description", "message")


@dataclass(frozen=True)
class AlertFacts:
    """What matching looks at: the labels, and the text symptoms are searched in (lowercase)."""

    labels: Mapping[str, str]
    text: str

    @classmethod
    def of(cls, labels: Mapping[str, str], *annotations: Mapping[str, str]) -> AlertFacts:
        parts = [v for a in annotations for k, v in a.items() if k in TEXT_ANNOTATIONS]
        parts += [v for k, v in labels.items() if k != "alertname"]
        return cls(dict(labels), "\n".join(parts).lower())


@cache
def _phrase(keyword: str) -> Pattern:
    """The keyword as a whole phrase. An alert's text can be megabytes: RE2, linear in it."""
    return linear(rf"(?:^|[^a-z0-9]){escape(keyword)}(?:[^a-z0-9]|$)")


def score(playbook: Playbook, facts: AlertFacts) -> tuple[int, int, int] | None:
    """How well `playbook` fits; None when it does not apply."""
    match = playbook.match
    for label, patterns in match.labels.items():
        value = facts.labels.get(label)
        if value is None or not glob_any(value, patterns):
            return None
    alertname = facts.labels.get("alertname", "")
    if alertname in match.alertnames:
        name_rank = 2
    elif glob_any(alertname, match.alertnames):
        name_rank = 1
    else:
        name_rank = 0
    hits = sum(1 for k in match.keywords if _phrase(k).search(facts.text))
    if name_rank == 0 and hits == 0:
        return None
    return name_rank, len(match.labels), hits


def ranked(playbooks: Iterable[Playbook], facts: AlertFacts) -> list[Playbook]:
    """The playbooks that apply, best first."""
    scored = [(s, p) for p in playbooks if (s := score(p, facts)) is not None]
    scored.sort(key=lambda sp: (tuple(-x for x in sp[0]), sp[1].name))
    return [p for _, p in scored]


def best(playbooks: Iterable[Playbook], facts: AlertFacts) -> Playbook | None:
    found = ranked(playbooks, facts)
    return found[0] if found else None
