"""Playbooks: one YAML file per common production problem, validated before Fireline starts.

A playbook says what it matches (alert names, label matchers, symptom keywords), which
diagnostics to run with parameters filled from the alert's labels, which remediations to offer
(buttons that go through the approval flow), and what a responder should do (immediate
mitigations, long-term fixes, links). Each carries an `example` alert, which must match it and
fill every parameter: the sandbox fires it, and the tests do.

Templating is deliberately tiny (see `docs/decisions/playbooks.md`): `{{ labels.NAME }}`, with
fallbacks `{{ labels.deployment | labels.app | "default" }}`. Nothing is evaluated; a label value
used in a parameter must look like a Kubernetes name or a plain word (`SAFE_VALUE`).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.errors import ConfigurationError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
LABEL_REF = re.compile(rf"^labels\.({LABEL})$")
LITERAL = re.compile(r'^"([^"{}]*)"$')
SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,252}$")
"""What a label value must look like to be put into a parameter (names, not free text)."""

RemediationName = Literal["restart", "scale", "rollback", "delete-pod"]
KUBE_WHERE = frozenset({"namespace", "cluster"})
REMEDIATION_PARAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # name: (required, optional) — the contract with the remediation actions (issue 5).
    "restart": (frozenset({"deployment"}), KUBE_WHERE),
    "scale": (frozenset({"deployment", "replicas"}), KUBE_WHERE),
    "rollback": (frozenset({"deployment"}), KUBE_WHERE | {"to_revision"}),
    "delete-pod": (frozenset({"pod"}), KUBE_WHERE),
}
ParamValue = str | int | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- templates ---------------------------------------------------------------------------------


class MissingLabels(Exception):
    """A parameter's template found none of the labels it names (nor a default)."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(", ".join(labels))
        self.labels = labels


def _alternatives(expression: str) -> list[tuple[str, str]]:
    """`labels.a | labels.b | "x"` → [("label", "a"), ("label", "b"), ("literal", "x")]."""
    out: list[tuple[str, str]] = []
    parts = [p.strip() for p in expression.split("|")]
    for index, part in enumerate(parts):
        if ref := LABEL_REF.match(part):
            out.append(("label", ref.group(1)))
        elif (literal := LITERAL.match(part)) and index == len(parts) - 1:
            out.append(("literal", literal.group(1)))
        elif literal:
            raise ValueError(f"a quoted default must come last in {{{{{expression}}}}}")
        else:
            raise ValueError(
                f"{{{{{expression}}}}} is not a template: write {{{{ labels.NAME }}}}, "
                f'optionally with fallbacks {{{{ labels.a | labels.b | "default" }}}}'
            )
    return out


def check_template(value: str) -> list[str]:
    """The labels a template names; `ValueError` saying how to write it when it is malformed."""
    if "{{" not in value and "}}" not in value:
        return []
    labels: list[str] = []
    for expression in TEMPLATE.findall(value):
        labels += [name for kind, name in _alternatives(expression) if kind == "label"]
    if "{{" in TEMPLATE.sub("", value) or "}}" in TEMPLATE.sub("", value):
        raise ValueError(f"unbalanced braces in {value!r}")
    return labels


def fill(value: ParamValue, labels: Mapping[str, str]) -> ParamValue:
    """A parameter with its templates replaced from `labels`; `MissingLabels` if one is empty."""
    if not isinstance(value, str) or "{{" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        wanted: list[str] = []
        for kind, name in _alternatives(match.group(1)):
            if kind == "literal":
                return name
            wanted.append(name)
            found = labels.get(name, "")
            if found and SAFE_VALUE.match(found):
                return found
        raise MissingLabels(wanted)

    return TEMPLATE.sub(one, value)


def fill_params(params: Mapping[str, ParamValue], labels: Mapping[str, str]) -> dict[str, Any]:
    return {key: fill(value, labels) for key, value in params.items()}


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

    action: RemediationName
    """restart, scale, rollback or delete-pod."""

    params: dict[str, ParamValue]
    """The remediation's parameters, e.g. `deployment: "{{ labels.deployment }}"`."""

    when: str = Field(min_length=1)
    """When this is the right move, one line (shown beside the button)."""

    @field_validator("params")
    @classmethod
    def _contract(cls, value: dict[str, ParamValue], info: ValidationInfo) -> dict[str, ParamValue]:
        for item in value.values():
            if isinstance(item, str):
                check_template(item)
        action = info.data.get("action")
        if action not in REMEDIATION_PARAMS:
            return value  # the action's own error is reported
        required, optional = REMEDIATION_PARAMS[action]
        unknown = sorted(set(value) - required - optional)
        if unknown:
            accepted = ", ".join(sorted(required | optional))
            raise ValueError(
                f"{action} takes no parameter {', '.join(unknown)} (accepted: {accepted})"
            )
        missing = sorted(required - set(value))
        if missing:
            raise ValueError(f"{action} needs {', '.join(missing)}")
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


# --- loading and validation --------------------------------------------------------------------


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


def validate_file(
    path: Path, actions: Mapping[str, type[BaseModel]]
) -> tuple[Playbook | None, list[str]]:
    """One playbook file → the playbook, or the errors naming the file, the field, the fix."""
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{path}: cannot be read: {exc.strerror}"]
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML: {exc}"]
    if not isinstance(raw, dict):
        return None, [f"{path}: expected a mapping of fields (title, match, diagnostics, …)"]
    if "name" in raw:
        return None, [f"{path}: name: leave it out; the file name ({name}) is the name"]
    try:
        playbook = Playbook.model_validate({"name": name, **raw})
    except ValidationError as exc:
        return None, [f"{path}: {line}" for line in _describe(exc)]
    errors = [f"{path}: {line}" for line in _check_steps(playbook, actions)]
    errors += [f"{path}: {line}" for line in _check_example(playbook)]
    return (None if errors else playbook), errors


def validate_dir(
    directory: Path, actions: Mapping[str, type[BaseModel]]
) -> tuple[Playbooks, list[str]]:
    """Every `*.yaml` in `directory`; the errors of all files (not just the first)."""
    if not directory.is_dir():
        return Playbooks({}, directory), [f"{directory}: not a directory of playbooks"]
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        return Playbooks({}, directory), [f"{directory}: no playbooks (*.yaml) in it"]
    found: dict[str, Playbook] = {}
    errors: list[str] = []
    for path in files:
        playbook, problems = validate_file(path, actions)
        errors += problems
        if playbook is not None and playbook.name in found:
            errors.append(f"{path}: a playbook named {playbook.name} exists already")
        elif playbook is not None:
            found[playbook.name] = playbook
    return Playbooks(found, directory), errors


def load_playbooks(directory: Path, actions: Mapping[str, type[BaseModel]]) -> Playbooks:
    """For start-up: the playbooks, or a ConfigurationError listing every problem."""
    playbooks, errors = validate_dir(directory, actions)
    if errors:
        raise ConfigurationError(
            f"Fireline cannot start: {len(errors)} problem(s) in the playbooks:\n"
            + "\n".join(f"  {e}" for e in errors)
        )
    return playbooks


def params_models(actions: Iterable[Any]) -> dict[str, type[BaseModel]]:
    """Action name → its Params model, from the action instances the app was built with."""
    return {a.name: a.Params for a in actions}


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    errors = exc.errors()
    for err in errors:
        if err["type"] == "too_short" and any(
            e["loc"][: len(err["loc"])] == err["loc"] and len(e["loc"]) > len(err["loc"])
            for e in errors
        ):
            continue  # an item was invalid (reported), not missing
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "missing":
            lines.append(f"{where}: required, missing")
            continue
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: not a playbook field (check its spelling)")
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (value: {value!r})"
        lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}{shown}")
    return lines


def _check_steps(playbook: Playbook, actions: Mapping[str, type[BaseModel]]) -> list[str]:
    errors = []
    for i, step in enumerate(playbook.diagnostics):
        where = f"diagnostics.{i}"
        model = actions.get(step.action)
        if model is None:
            close = difflib.get_close_matches(step.action, list(actions), n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            errors.append(
                f"{where}.action: {step.action!r} is not a diagnostic action{hint} "
                f"(known: {', '.join(sorted(actions))})"
            )
            continue
        errors += [f"{where}.params.{e}" for e in _check_params(step.action, step.params, model)]
    return errors


def _check_params(
    action: str, params: Mapping[str, ParamValue], model: type[BaseModel]
) -> list[str]:
    fields = model.model_fields
    errors = [
        f"{key}: not a parameter of {action} (expected one of: {', '.join(fields)})"
        for key in params
        if key not in fields
    ]
    errors += [
        f'{key}: {action} needs it (e.g. {key}: "{{{{ labels.{key} }}}}")'
        for key, info in fields.items()
        if info.is_required() and key not in params
    ]
    if errors:
        return errors
    templated = {k for k, v in params.items() if isinstance(v, str) and "{{" in v}
    sample = {k: ("x" if k in templated else v) for k, v in params.items()}
    try:
        model.model_validate(sample)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "params"
            if key not in templated:
                msg = err["msg"].removeprefix("Value error, ")
                errors.append(f"{key}: {msg} (value: {params.get(key)!r})")
    return errors


def _check_example(playbook: Playbook) -> list[str]:
    from bot.playbook_match import AlertFacts, score

    example = playbook.example
    facts = AlertFacts.of(example.all_labels, example.annotations)
    errors = []
    if score(playbook, facts) is None:
        errors.append("example: does not match this playbook's `match` (fix one or the other)")
    steps = [("diagnostics", i, s.params) for i, s in enumerate(playbook.diagnostics)]
    steps += [("remediations", i, o.params) for i, o in enumerate(playbook.remediations)]
    for section, i, params in steps:
        for key, value in params.items():
            try:
                fill(value, facts.labels)
            except MissingLabels as exc:
                errors.append(
                    f"{section}.{i}.params.{key}: the example alert has no label "
                    f"{' or '.join(exc.labels)} to fill it (add it to example.labels)"
                )
    return errors


def glob_any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)
