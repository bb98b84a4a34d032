"""Typed access to a Web API call's arguments (merged from query, form and JSON bodies)."""

from __future__ import annotations

import json
from typing import Any

from bot.sandbox.doubles.slack.errors import SlackError


class Args:
    """The arguments of one call; accessors raise Slack's errors on bad values."""

    def __init__(self, values: dict[str, Any], token_kind: str = "bot") -> None:
        self.values = values
        self.token_kind = token_kind

    def has(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != ""

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def req(self, name: str, code: str = "invalid_arguments") -> str:
        value = self.get(name)
        if value is None:
            raise SlackError(code)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes")

    def integer(self, name: str, default: int) -> int:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def json(self, name: str, code: str = "invalid_arguments") -> Any:
        """A JSON argument: JSON bodies give it decoded, form bodies as a JSON string."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(code) from None
        return value

    def csv(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(v) for v in value]
        return [v.strip() for v in str(value).split(",") if v.strip()]


def check_types(values: dict[str, Any], arg_types: dict[str, tuple[str, ...]]) -> str | None:
    """The first argument whose value cannot have its documented type, if any."""
    for name, value in values.items():
        types = arg_types.get(name)
        if not types or value is None:
            continue
        if "integer" in types and "string" not in types:
            if isinstance(value, bool):
                return name
            try:
                int(value)
            except (TypeError, ValueError):
                return name
        if (
            types == ("boolean",)
            and not isinstance(value, bool)
            and str(value).lower() not in ("true", "false", "1", "0", "")
        ):
            return name
    return None
