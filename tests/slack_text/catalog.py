"""Every sentence function Fireline has: the public functions of each `messages` module
(`bot.messages`, `handlers.messages` and every `bot.*.messages` outside the sandbox), found by
walking the packages, so a new one is checked without being listed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

import bot


def message_modules() -> list[ModuleType]:
    found = [importlib.import_module("bot.messages"), importlib.import_module("handlers.messages")]
    for info in pkgutil.walk_packages(bot.__path__, "bot."):
        if info.name.endswith(".messages") and ".sandbox." not in info.name:
            found.append(importlib.import_module(info.name))
    return list(dict.fromkeys(found))


def message_functions() -> list[tuple[str, Callable[..., Any]]]:
    """(qualified name, function) of every public function defined in those modules."""
    out: list[tuple[str, Callable[..., Any]]] = []
    for module in message_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                out.append((f"{module.__name__}.{name}", fn))
    return out
