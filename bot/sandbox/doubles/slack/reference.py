"""Slack's own method reference (``bot/sandbox/doubles/slack_api_ref``) as typed method specs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from typing import Any

# Which Slack error a missing required argument produces, when the method documents it.
# Checked in order; the first code the method lists in its ``errors`` wins, else
# ``invalid_arguments``.
_MISSING_ARG_ERRORS: dict[str, tuple[str, ...]] = {
    "channel": ("channel_not_found",),
    "channel_id": ("channel_not_found",),
    "name": ("invalid_name_required",),
    "user": ("user_not_found",),
    "user_id": ("user_not_found",),
    "users": ("no_user", "users_list_not_supplied"),
    "ts": ("message_not_found",),
    "timestamp": ("no_item_specified", "message_not_found"),
    "message_ts": ("message_not_found",),
    "usergroup": ("no_such_subteam",),
    "file": ("file_not_found",),
    "files": ("file_not_found",),
    "topic": ("invalid_arguments",),
}

_CUSTOM_RATE = re.compile(r"(\d+) requests per minute with a burst allowance of (\d+)")


@dataclass(frozen=True)
class MethodSpec:
    """What the reference says about one Web API method."""

    name: str
    http_method: str
    tier: str | None
    required: tuple[str, ...]
    arg_types: dict[str, tuple[str, ...]]
    errors: frozenset[str]
    custom_rate: tuple[int, int] | None = None

    def missing_arg_error(self, arg: str) -> str:
        for code in _MISSING_ARG_ERRORS.get(arg, ()):
            if code in self.errors:
                return code
        return "invalid_arguments"


def _types_of(schema: dict[str, Any]) -> tuple[str, ...]:
    if "type" in schema:
        t = schema["type"]
        return tuple(t) if isinstance(t, list) else (str(t),)
    out: list[str] = []
    for alt in schema.get("anyOf", []) + schema.get("oneOf", []):
        if isinstance(alt, dict):
            out.extend(_types_of(alt))
    return tuple(out)


def _spec_from(name: str, data: dict[str, Any]) -> MethodSpec:
    args = data.get("args") or {}
    props: dict[str, Any] = args.get("properties") or {}
    rate = data.get("rate_limits")
    tier: str | None = None
    custom: tuple[int, int] | None = None
    if isinstance(rate, str):
        m = _CUSTOM_RATE.search(rate)
        if m:
            custom = (int(m.group(1)), int(m.group(2)))
        elif re.fullmatch(r"t[1-5]", rate):
            tier = rate
    return MethodSpec(
        name=name,
        http_method=str(data.get("http_method") or "POST"),
        tier=tier,
        required=tuple(r for r in args.get("required") or () if r != "token"),
        arg_types={k: _types_of(v) for k, v in props.items() if isinstance(v, dict)},
        errors=frozenset((data.get("errors") or {}).keys()),
        custom_rate=custom,
    )


class MethodCatalog:
    """All methods of the reference, loaded eagerly at construction."""

    def __init__(self, root: Traversable | None = None) -> None:
        base = root or resources.files("bot.sandbox.doubles").joinpath("slack_api_ref", "methods")
        self._specs: dict[str, MethodSpec] = {}
        for entry in base.iterdir():
            fname = entry.name
            if not fname.endswith(".json") or fname == "methods.json":
                continue
            data = json.loads(entry.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                name = fname[: -len(".json")]
                self._specs[name] = _spec_from(name, data)

    def get(self, name: str) -> MethodSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)
