"""Playbook templates: `{{ labels.NAME }}`, with fallbacks `{{ labels.a | labels.b | "default" }}`.

Nothing is evaluated: a regex finds the braces, and each alternative must be a label reference or
a final quoted default. A label value is used only if it looks like a name (`SAFE_VALUE`), so
free text from an alert never becomes a parameter. See `docs/decisions/playbooks.md`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
LABEL_REF = re.compile(rf"^labels\.({LABEL})$")
LITERAL = re.compile(r'^"([^"{}]*)"$')
SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,252}$")
"""What a label value must look like to be put into a parameter (names, not free text)."""

ParamValue = str | int | bool


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
