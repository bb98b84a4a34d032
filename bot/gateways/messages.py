"""What the gateways feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import code


def kube_write_forbidden(verb: str, resource: str, namespace: str) -> str:
    where = f" in {code(namespace)}" if namespace else ""
    return (
        f"Kubernetes refused: Fireline's service account may not {code(verb)} {code(resource)}"
        f"{where}. Grant {code(verb)} on {code(resource)} in the fireline-remediation Role and "
        "bind it in that "
        "namespace (deploy/kubernetes/rbac-remediation.yaml)."
    )


_ACCESS_FIX = {
    "not_in_channel": "invite Fireline back (`/invite @Fireline` in that channel)",
    "channel_not_found": "the channel was deleted or made private: invite Fireline, or point "
    "the setting or the policy's alert route at a channel that exists",
    "missing_scope": "add the scope in the app's settings (deploy/slack-app-manifest.yml lists "
    "them) and reinstall the app",
    "token_revoked": "reinstall the app and put its new bot token in SLACK_BOT_TOKEN",
    "invalid_auth": "put a valid bot token in SLACK_BOT_TOKEN",
    "account_inactive": "reinstall the app and put its new bot token in SLACK_BOT_TOKEN",
}


def _access_subject(reason: str, subject: str) -> str:
    if subject == "token":
        return "its token"
    if reason == "missing_scope":
        return f"`{subject}` (a scope is missing)"
    return f"<#{subject}>"


def slack_access_lost(reason: str, subject: str, method: str) -> str:
    """Told once in the broadcast channel when Fireline loses access to something in Slack."""
    return (
        f"⚠️ Fireline lost access in Slack: `{method}` on {_access_subject(reason, subject)} was "
        f"refused with `{reason}`, so what it should post there is not shown. To fix: "
        f"{_ACCESS_FIX.get(reason, 'check the app in Slack')}."
    )


def slack_access_log(reason: str, subject: str, method: str) -> str:
    where = "the bot token" if subject == "token" else subject
    return (
        f"Slack refused {method} ({reason}) on {where}: Fireline lost access; /readyz fails "
        f"until it is back. To fix: {_ACCESS_FIX.get(reason, 'check the app in Slack')}"
    )


def slack_access_back_log(reason: str, subject: str) -> str:
    where = "the bot token" if subject == "token" else subject
    return f"Slack access is back: {reason} on {where} no longer applies"
