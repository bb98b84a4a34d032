"""The composition root: builds Fireline from its settings and runs it.

`create_app(settings, deps)` wires one instance (no module-level app or registry): Redis,
the Slack client, the domain services, the Bolt app with its listeners, and the one HTTP server
(`/slack/events`, `/healthz`, `/readyz`). Socket Mode, when an app token is set, runs beside
the same HTTP server so probes keep working.

Start-up says what is wrong in one line and undoes what it did (`serve`: whatever fails, the
embedded Redis is stopped and every session closed): a taken port names the port and how to
choose another; a token Slack refuses (`invalid_auth`, `token_revoked`, …) names the setting
to fix and stops; Slack out of reach is not a reason to stop: Fireline starts, says so once,
answers `/readyz` with 503 and keeps trying until Slack answers. `serve` stops cleanly on
SIGTERM and SIGINT.
"""

from bot.app.deps import Deps
from bot.app.fireline import SLACK_CONNECTIONS, Fireline, create_app
from bot.app.serve import run_until_signalled, serve

__all__ = ["SLACK_CONNECTIONS", "Deps", "Fireline", "create_app", "run_until_signalled", "serve"]
