"""What the policy feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot import messages as shared
from bot.blockkit import code, escape


def denied_action(action: str, held: list[str], allowing: list[str]) -> str:
    need = escape(" or ".join(allowing)) if allowing else "a role the policy does not define"
    return (
        f"🚫 {code(action)} needs the role {need}; you have {shared._roles(held)}. "
        "Ask an admin to add you (or your user group) to that role in the Fireline policy."
    )


def denied_namespace_role(namespace: str, held: list[str], granting: list[str]) -> str:
    need = escape(" or ".join(granting)) if granting else "no role"
    return (
        f"🚫 Your roles ({shared._roles(held)}) do not cover namespace {code(namespace)}; "
        f"{need} would. Ask an admin to extend your role in the Fireline policy."
    )


def denied_target(target: str, held: list[str], granting: list[str], field: str) -> str:
    need = escape(" or ".join(granting)) if granting else "no role"
    return (
        f"🚫 Your roles ({shared._roles(held)}) do not reach {escape(target)}; {need} would. "
        f"Ask an admin to add it to your role's {code(field)} in the Fireline policy."
    )
