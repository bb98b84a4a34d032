"""What the policy feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot import messages as shared
from bot.blockkit import Mrkdwn, code, escape
from bot.blockkit import user as mention


def denied_action(action: str, held: list[str], allowing: list[str]) -> str:
    need = shared._either(allowing, "a role the policy does not define")
    return (
        f"🚫 {code(action)} needs the role {need}; you have {shared._roles(held)}. "
        "Ask an admin to add you (or your user group) to that role in the Fireline policy."
    )


def denied_namespace_role(namespace: str, held: list[str], granting: list[str]) -> str:
    need = shared._either(granting, "no role")
    return (
        f"🚫 Your roles ({shared._roles(held)}) do not cover namespace {code(namespace)}; "
        f"{need} would. Ask an admin to extend your role in the Fireline policy."
    )


def denied_target(target: str, held: list[str], granting: list[str], field: str) -> str:
    need = shared._either(granting, "no role")
    return (
        f"🚫 Your roles ({shared._roles(held)}) do not reach {escape(target)}; {need} would. "
        f"Ask an admin to add it to your role's {code(field)} in the Fireline policy."
    )


def _either(roles: tuple[str, ...] | list[str]) -> str:
    return shared._either(roles, "a role the policy does not name")


def _held_by(holders: Mrkdwn) -> str:
    return f" Held by {holders}." if holders else ""


def denied_verb(
    doing: str, verb: str, held: list[str], allowing: tuple[str, ...], holders: Mrkdwn
) -> str:
    return (
        f"🚫 {escape(doing)} needs the role {_either(allowing)} (the policy's "
        f"{code('incidents.' + verb)}); "
        f"you have {shared._roles(held)}.{_held_by(holders)} Ask one of them, or an admin to "
        "add you in the Fireline policy. Nothing was changed."
    )


def cannot_command(
    assignee: str, held: list[str], allowing: tuple[str, ...], holders: Mrkdwn
) -> str:
    return (
        f"🚫 {mention(assignee)} cannot hold the commander role: the policy's `incidents.command` "
        f"gives it to {_either(allowing)}, and they have {shared._roles(held)}."
        f"{_held_by(holders)} Nothing was changed."
    )


def not_this_incident(named: str, here: str | None) -> str:
    where = f"belongs to {escape(here)}" if here else "belongs to no incident"
    return (
        f"🚫 That button names {escape(named)}, but the message it is on {where}; Fireline acts "
        "only on the incident of the place it was clicked. Nothing was changed."
    )


def not_this_alert(named: str) -> str:
    return (
        f"🚫 That button names alert group {escape(named)}, but it is not on that group's message; "
        "Fireline acts only on the alert whose message was clicked. Nothing was changed."
    )
