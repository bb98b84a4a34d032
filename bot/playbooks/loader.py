"""Loading playbook files: the schema, then the checks that need the app's actions, every
problem named by file, field and what is expected.

The actions are those the app was built with (`Deps.actions` and `Deps.remediations`), handed in
as their `Params` models (`params_models`): a playbook may name only those, with their
parameters.

Used at start-up (`load_playbooks`: a bad file stops Fireline) and by
`fireline playbooks validate [PATH]` (`validate_dir` / `validate_file`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.actions.base import TypedAction
from bot.blockkit import counted
from bot.errors import ConfigurationError
from bot.playbooks.match import AlertFacts, score
from bot.playbooks.models import Playbook, Playbooks
from bot.playbooks.templates import MissingLabels, ParamValue, fill


@dataclass(frozen=True)
class ActionModels:
    """Action name → its `Params` model, for the actions a playbook may name."""

    diagnostics: Mapping[str, type[BaseModel]]
    """What `diagnostics:` steps may run."""
    remediations: Mapping[str, type[BaseModel]]
    """What `remediations:` may offer."""


def params_models(
    actions: Iterable[TypedAction[Any]], remediations: Iterable[TypedAction[Any]]
) -> ActionModels:
    """The `Params` models of the action instances the app was built with."""
    return ActionModels(
        diagnostics={a.name: a.Params for a in actions},
        remediations={r.name: r.Params for r in remediations},
    )


def fields_of(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """A `Params` model's (required, optional) field names."""
    fields = model.model_fields
    required = frozenset(n for n, f in fields.items() if f.is_required())
    return required, frozenset(fields) - required


def validate_file(path: Path, actions: ActionModels) -> tuple[Playbook | None, list[str]]:
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
    errors = [f"{path}: {line}" for line in _check_steps(playbook, actions.diagnostics)]
    errors += [f"{path}: {line}" for line in _check_offers(playbook, actions.remediations)]
    errors += [f"{path}: {line}" for line in _check_example(playbook)]
    return (None if errors else playbook), errors


def validate_dir(directory: Path, actions: ActionModels) -> tuple[Playbooks, list[str]]:
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


def load_playbooks(directory: Path, actions: ActionModels) -> Playbooks:
    """For start-up: the playbooks, or a ConfigurationError listing every problem."""
    playbooks, errors = validate_dir(directory, actions)
    if errors:
        raise ConfigurationError(
            f"Fireline cannot start: {counted(len(errors), 'problem')} in the playbooks:\n"
            + "\n".join(f"  {e}" for e in errors)
        )
    return playbooks


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


def _did_you_mean(name: str, known: Mapping[str, object]) -> str:
    """`; did you mean a or b?` for the names closest to a mistyped one (empty if none)."""
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.5)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _check_steps(playbook: Playbook, actions: Mapping[str, type[BaseModel]]) -> list[str]:
    errors = []
    for i, step in enumerate(playbook.diagnostics):
        where = f"diagnostics.{i}"
        model = actions.get(step.action)
        if model is None:
            hint = _did_you_mean(step.action, actions)
            errors.append(
                f"{where}.action: {step.action!r} is not a diagnostic action{hint} "
                f"(known: {', '.join(sorted(actions))})"
            )
            continue
        errors += [f"{where}.params.{e}" for e in _check_params(step.action, step.params, model)]
    return errors


def _check_offers(playbook: Playbook, remediations: Mapping[str, type[BaseModel]]) -> list[str]:
    errors = []
    for i, offer in enumerate(playbook.remediations):
        where = f"remediations.{i}"
        model = remediations.get(offer.action)
        if model is None:
            hint = _did_you_mean(offer.action, remediations)
            errors.append(
                f"{where}.action: Input should be {_one_of(list(remediations))} "
                f"(value: {offer.action!r}){hint}"
            )
            continue
        required, optional = fields_of(model)
        unknown = sorted(set(offer.params) - required - optional)
        missing = sorted(required - set(offer.params))
        if unknown:
            accepted = ", ".join(sorted(required | optional))
            errors.append(
                f"{where}.params: {offer.action} takes no parameter {', '.join(unknown)} "
                f"(accepted: {accepted})"
            )
        elif missing:
            errors.append(f"{where}.params: {offer.action} needs {', '.join(missing)}")
    return errors


def _one_of(names: list[str]) -> str:
    """'a', 'b' or 'c'."""
    quoted = [repr(n) for n in names]
    if len(quoted) < 2:
        return "".join(quoted) or "one of the remediations (this Fireline has none)"
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


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
