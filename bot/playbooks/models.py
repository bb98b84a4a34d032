"""Playbooks: one YAML file per common production problem, validated before Fireline starts.

A playbook says what it matches (alert names, label matchers, symptom keywords), which
diagnostics to run with parameters filled from the alert's labels, which remediations to offer
(buttons that go through the approval flow), and what a responder should do (immediate
mitigations, long-term fixes, links). Each carries an `example` alert, which must match it and
fill every parameter: the sandbox fires it, and the tests do.

This module is the schema and the collection; templates are `bot.playbooks.templates`, loading
and the checks against the app's actions (diagnostics and remediations, their names and their
parameters) `bot.playbooks.loader`. The schema knows no action by name.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.playbooks.templates import LABEL, ParamValue, check_template

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- the schema --------------------------------------------------------------------------------


class Match(_Strict):
    """What alerts this playbook is for. Alert names or keywords select; label matchers filter."""

    alertnames: tuple[str, ...] = ()
    """Alert names (shell-style patterns: `KubePod*`); the strongest signal."""

    labels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Label → shell-style patterns, one of which the label's value must match (all labels)."""

    keywords: tuple[str, ...] = ()
    """Symptom phrases looked for (case-insensitive) in the summary, description and message."""

    @field_validator("labels", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v,) if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for word in value:
            if len(word.strip()) < 3:
                raise ValueError(f"keyword {word!r} is too short to mean anything (3+ characters)")
        return tuple(w.strip().lower() for w in value)

    @model_validator(mode="after")
    def _selects(self) -> Match:
        if not self.alertnames and not self.keywords:
            raise ValueError("give alertnames or keywords (label matchers only narrow a match)")
        return self


class Step(_Strict):
    """One diagnostic to run: an action name and its parameters (templates allowed)."""

    action: str
    """A diagnostic action (`/incident help` lists them)."""

    params: dict[str, ParamValue] = Field(default_factory=dict)
    """The action's parameters by field name, e.g. `target: "{{ labels.deployment }}"`."""

    why: str = Field(min_length=1)
    """What to look for in the result, one line."""

    @field_validator("params")
    @classmethod
    def _templates(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for item in value.values():
            if isinstance(item, str):
                check_template(item)
        return value


class Offer(_Strict):
    """A remediation offered as a button; clicking it asks for approval, nothing runs directly."""

    action: str
    """A remediation (restart, scale, rollback, delete-pod: `/incident help` lists them)."""

    params: dict[str, ParamValue]
    """The remediation's parameters, e.g. `deployment: "{{ labels.deployment }}"`."""

    when: str = Field(min_length=1)
    """When this is the right move, one line (shown beside the button)."""

    @field_validator("params")
    @classmethod
    def _templates(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for item in value.values():
            if isinstance(item, str):
                check_template(item)
        return value


class Guidance(_Strict):
    """What a responder does, the way a runbook reads."""

    immediate: tuple[str, ...] = Field(min_length=1)
    """Mitigations for now, most effective first."""

    long_term: tuple[str, ...] = Field(min_length=1)
    """Fixes so it does not happen again."""


class Link(_Strict):
    title: str = Field(min_length=1)
    url: str
    """An http(s) URL."""

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+\S*$", value):
            raise ValueError("expected an http:// or https:// URL")
        return value


class Example(_Strict):
    """An alert this playbook is for: the sandbox fires it, tests match it."""

    alertname: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @property
    def all_labels(self) -> dict[str, str]:
        return {"alertname": self.alertname, **self.labels}


class Playbook(_Strict):
    """One file in the playbooks directory; its name is the file name without `.yaml`."""

    name: str = Field(pattern=NAME.pattern)
    """From the file name: lowercase letters, digits and dashes."""

    title: str = Field(min_length=1, max_length=80)
    """What the problem is called, e.g. "Database connection-pool exhaustion"."""

    summary: str = Field(min_length=1, max_length=300)
    """One or two sentences: what is going on when this playbook applies."""

    target_label: str = Field(default="deployment", pattern=f"^{LABEL}$")
    """The label `/incident playbook <name> <target>` fills with its target."""

    match: Match
    diagnostics: tuple[Step, ...] = Field(min_length=1)
    remediations: tuple[Offer, ...] = ()
    guidance: Guidance
    links: tuple[Link, ...] = Field(min_length=1)
    example: Example


@dataclass(frozen=True)
class Playbooks:
    """Every playbook, by name, in file-name order."""

    by_name: Mapping[str, Playbook]
    directory: Path | None = None

    def __iter__(self) -> Any:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> Playbook | None:
        return self.by_name.get(name)

    def close_matches(self, name: str) -> list[str]:
        names = list(self.by_name)
        titles = {p.title.lower(): p.name for p in self}
        close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
        close += [
            titles[t]
            for t in difflib.get_close_matches(name.lower(), list(titles), n=2, cutoff=0.5)
            if titles[t] not in close
        ]
        close += [n for n in names if name.lower() in n and n not in close]
        return close[:3]


def glob_any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)
