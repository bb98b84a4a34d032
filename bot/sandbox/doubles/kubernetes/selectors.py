"""Label and field selectors with the API server's syntax.

Label selectors support equality (`a=b`, `a==b`, `a!=b`) and set-based requirements
(`a in (x,y)`, `a notin (x)`, `a`, `!a`). Field selectors support `=`, `==` and `!=` on any
dotted path of the object (the server restricts the fields per kind; the double is lenient).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.doubles.kubernetes.errors import ApiError


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


_SET_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQ_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$")
_KEY_RE = re.compile(r"^(!?)\s*([A-Za-z0-9_./-]+)$")


def _split_top_level(selector: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def parse_label_selector(selector: str | None) -> list[Requirement]:
    if not selector:
        return []
    requirements: list[Requirement] = []
    for part in _split_top_level(selector):
        if match := _SET_RE.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQ_RE.match(part):
            op = "!=" if match.group(2) == "!=" else "="
            requirements.append(Requirement(match.group(1), op, (match.group(3),)))
        elif match := _KEY_RE.match(part):
            op = "!exists" if match.group(1) else "exists"
            requirements.append(Requirement(match.group(2), op))
        else:
            raise ApiError(
                400, f"unable to parse requirement: found '{part}', expected: valid selector"
            )
    return requirements


def matches_labels(labels: Mapping[str, str] | None, requirements: list[Requirement]) -> bool:
    labels = labels or {}
    return all(req.matches(labels) for req in requirements)


def selector_string(match_labels: Mapping[str, str]) -> str:
    """Render a matchLabels map the way Scale.status.selector renders it."""
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Match a metav1.LabelSelector object (matchLabels + matchExpressions)."""
    requirements = [Requirement(k, "=", (v,)) for k, v in selector.get("matchLabels", {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions", []):
        requirements.append(
            Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ()))
        )
    return matches_labels(labels, requirements)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    value: str
    negate: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        current: Any = obj
        for segment in self.path.split("."):
            current = current.get(segment) if isinstance(current, Mapping) else None
        actual = "" if current is None else str(current)
        return (actual == self.value) != self.negate


def parse_field_selector(selector: str | None) -> list[FieldRequirement]:
    if not selector:
        return []
    requirements: list[FieldRequirement] = []
    for part in _split_top_level(selector):
        match = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
        if not match:
            raise ApiError(400, f"invalid selector: '{selector}'; can't understand '{part}'")
        requirements.append(
            FieldRequirement(match.group(1), match.group(3).strip(), match.group(2) == "!=")
        )
    return requirements


def matches_fields(obj: Mapping[str, Any], requirements: list[FieldRequirement]) -> bool:
    return all(req.matches(obj) for req in requirements)


_OBJECT_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)
FIELD_LABELS: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "Event": _EVENT_FIELDS,
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Service": frozenset({"spec.clusterIP", "spec.type"}),
}
"""The field labels the API server accepts per kind, beyond metadata.name and
metadata.namespace (each kind's registry declares its own; anything else is a 400)."""
_ALIASES = {"source": "source.component"}


def supported_fields(kind: str, requirements: list[FieldRequirement]) -> list[FieldRequirement]:
    """`requirements` on the object's paths, or 400 for a field label the kind does not
    support, as the API server answers (not an empty list that looks like "none match")."""
    allowed = _OBJECT_FIELDS | FIELD_LABELS.get(kind, frozenset())
    checked: list[FieldRequirement] = []
    for requirement in requirements:
        if requirement.path not in allowed:
            raise ApiError(400, f"field label not supported: {requirement.path}")
        path = _ALIASES.get(requirement.path, requirement.path)
        checked.append(FieldRequirement(path, requirement.value, requirement.negate))
    return checked
