"""What the actions feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.blockkit import Plain, code, escape
from bot.messages import echo, typed


def no_cluster_configured() -> str:
    return (
        "No Kubernetes cluster is configured in the Fireline policy (or several are and none is "
        "the default). An admin sets `clusters` and `default_cluster` in the policy file."
    )


def bad_argument(field: str, problem: str, usage_text: str) -> str:
    return f"{code(field)} {escape(problem)}. Type {typed(usage_text)}."


def invalid_value(kind: str, limits: Mapping[str, object], given: str, said: str) -> Plain:
    """Plain: what is wrong with a value, in words, from pydantic's error `kind` and its
    `limits` (its `ctx`); `said` (pydantic's own sentence) for a kind not worded here."""
    shown = echo(given, 40)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, like 3 (not {shown})"
    if kind == "greater_than_equal":
        return f"must be {limits.get('ge')} or more (not {shown})"
    if kind == "less_than_equal":
        return f"must be {limits.get('le')} or less (not {shown})"
    if kind == "string_too_long":
        return (
            f"may be at most {limits.get('max_length')} characters long; this one is {len(given)}"
        )
    return said


def missing_argument(field: str, usage_text: str) -> str:
    return f"Say which {escape(field)}: {typed(usage_text)}."


def not_a_namespace() -> str:
    return (
        "must be a namespace name: lowercase letters, digits and `-`, starting and ending with a "
        "letter or digit, at most 63 characters (like `orion-prod`)"
    )


def lowercase_name(lowered: str) -> str:
    """A name typed with capitals that is valid in lowercase (`lowered`, already checked)."""
    return f"must be lowercase, as Kubernetes names are: {code(lowered)}"


def not_an_object_name() -> str:
    return (
        "must be a Kubernetes name: lowercase letters, digits, `-` and `.`, starting and ending "
        "with a letter or digit, at most 253 characters (like `checkout` or `checkout-7d9f8-x2x4q`)"
    )


def not_a_container_name() -> str:
    return (
        "must be a container name: lowercase letters, digits and `-`, starting and ending with a "
        "letter or digit, at most 63 characters (like `app`)"
    )


def not_a_name_or_selector() -> str:
    return (
        "must be a Kubernetes name (lowercase letters, digits, `-` and `.`, like `checkout`) "
        "or a label selector (like `app=checkout,tier!=canary`)"
    )
