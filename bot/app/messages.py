"""What start-up says to the person running Fireline when it cannot go on: one line each,
naming what to change."""

from __future__ import annotations

import errno


def token_refused(variable: str, code: str) -> str:
    """One line: which token Slack refused, and where to find the right one."""
    where = {
        "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…) from the Slack app's "
        "OAuth & Permissions page (reinstall the app if it was removed)",
        "SLACK_APP_TOKEN": "an App-Level Token (xapp-…, scope connections:write) from the "
        "Slack app's Basic Information page",
    }[variable]
    return f"Slack refused {variable} ({code}): set it to {where}, then start Fireline again."


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """One line: why the HTTP server cannot listen there, and how to choose another port."""
    choose = "choose another with --port N, or FIRELINE_HTTP_PORT=N in .env or the environment"
    if exc.errno == errno.EADDRINUSE:
        return f"Port {port} is already in use on {host} (another program listens there): {choose}."
    if exc.errno == errno.EACCES:
        return f"Port {port} on {host} needs privileges Fireline does not have: {choose}."
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"FIRELINE_HTTP_HOST {host} is not an address of this machine: set it to 0.0.0.0 "
            "(every address) or 127.0.0.1 (this machine only)."
        )
    return f"Fireline cannot listen on {host}:{port} ({exc.strerror or exc}): {choose}."
