"""The `fireline` command: `serve` runs the bot (the sandbox when no Slack tokens are set),
`sandbox` runs the local sandbox, `report INC-42` prints a report locally (Redis is all it
needs), `playbooks validate [PATH]` checks playbook files before they are deployed,
`outbox [--retry]` lists (and queues again) alert messages Slack refused.

What goes wrong at start-up is said in one line on stderr, without a traceback (exit status 2
for what the person must change, 1 for the rest); the set-up help follows only when the Slack
settings themselves are missing or malformed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from bot.errors import ConfigurationError, FirelineError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.settings import Settings
    from bot.store.store import Store

SETUP_VALUES = """\
  SLACK_BOT_TOKEN       xoxb-…  Slack app → OAuth & Permissions → Bot User OAuth Token
  SLACK_SIGNING_SECRET          Slack app → Basic Information → App Credentials → Signing Secret
  SLACK_APP_TOKEN       xapp-…  Slack app → Basic Information → App-Level Tokens, scope
                                connections:write (optional: set it for Socket Mode, no public URL)

Create the app in one paste from deploy/slack-app-manifest.yml (README: "Slack app set-up").
"""

SETUP_HELP = (
    "Fireline needs a Slack app before it can run. Set these in .env (copy .env.example) or the\n"
    "environment:\n\n" + SETUP_VALUES
)

NO_TOKENS = (
    "No Slack tokens are set, so Fireline starts in its local sandbox: a Slack-like page on this\n"
    "machine and a simulated cluster; nothing is sent to Slack or to a real cluster. Stop it with\n"
    "Ctrl-C. To run the real bot instead, set these in .env (copy .env.example) or the\n"
    "environment:\n\n" + SETUP_VALUES
)


class _Unconfigured(ConfigurationError):
    """The settings themselves are missing or malformed: the set-up help follows the error."""


PORT_HELP = "HTTP port (default: FIRELINE_HTTP_PORT, else 3000; 0: any free port)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fireline", description="Slack incident bot")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the bot")
    serve.add_argument("--port", type=_port, default=None, help=PORT_HELP)
    sandbox = sub.add_parser(
        "sandbox", help="run Fireline against a local Slack emulator and a simulated cluster"
    )
    sandbox.add_argument(
        "--speed",
        type=_speed,
        default=None,
        help="sandbox time runs N times faster (default 1; with --drill, the drill's own speed)",
    )
    sandbox.add_argument("--drill", metavar="NAME", help="run a scripted incident drill")
    sandbox.add_argument("--port", type=_port, default=None, help=PORT_HELP)
    sandbox.add_argument(
        "--cluster",
        metavar="CONTEXT",
        help="use this kubeconfig context (read-only) instead of the simulated cluster",
    )
    report = sub.add_parser("report", help="print an incident's post-incident report")
    report.add_argument("incident_id", help="e.g. INC-42")
    books = sub.add_parser("playbooks", help="check playbook files")
    books_sub = books.add_subparsers(dest="playbooks_command", required=True)
    validate = books_sub.add_parser("validate", help="validate a playbook directory or file")
    validate.add_argument(
        "path", nargs="?", default=None, help="directory or .yaml file (default: the shipped ones)"
    )
    outbox = sub.add_parser("outbox", help="list alert messages Slack refused (parked)")
    outbox.add_argument("--retry", action="store_true", help="queue them all again")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args.port)
        if args.command == "playbooks":
            return _validate_playbooks(args.path)
        if args.command == "outbox":
            return asyncio.run(_outbox(retry=args.retry))
        if args.command == "sandbox":
            return _sandbox(args.speed, args.drill, args.port, args.cluster)
        return asyncio.run(_report(args.incident_id))
    except _Unconfigured as exc:
        print(str(exc), file=sys.stderr)
        if "SLACK_" in str(exc):
            print("\n" + SETUP_HELP, file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except FirelineError as exc:
        print(f"fireline: {exc}", file=sys.stderr)
        return 1


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number; try --speed 20") from None
    if not 0 < speed <= 1000:
        raise argparse.ArgumentTypeError("must be above 0 and at most 1000; try --speed 20")
    return speed


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number; try --port 3001") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be 0-65535 (0: any free port); try --port 3001")
    return port


def _settings(**overrides: object) -> Settings:
    from bot.settings import load_settings

    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        raise _Unconfigured(str(exc)) from None


def _serve(port: int | None) -> int:
    from bot.app import serve
    from bot.runtime.log import configure as configure_logging
    from bot.settings import slack_credentials_missing

    if slack_credentials_missing():
        print(NO_TOKENS, file=sys.stderr, flush=True)
        return _sandbox(1.0, None, port, None)
    settings = _settings(**({} if port is None else {"http_port": port}))
    configure_logging(settings.log_level, settings.secret_values(), settings.log_format)
    asyncio.run(serve(settings))  # until SIGTERM or SIGINT, then a clean stop
    return 0


def _validate_playbooks(path: str | None) -> int:
    from pathlib import Path

    from bot.blockkit import counted
    from bot.diagnostics.actions import default_actions
    from bot.playbooks.loader import params_models, validate_dir, validate_file
    from bot.remediation.actions import default_remediations
    from bot.settings import DEFAULT_PLAYBOOKS_DIR

    target = Path(path) if path else DEFAULT_PLAYBOOKS_DIR
    actions = params_models(default_actions(), default_remediations())
    if target.is_file():
        playbook, errors = validate_file(target, actions)
        names = [playbook.name] if playbook else []
    else:
        playbooks, errors = validate_dir(target, actions)
        names = list(playbooks.by_name)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{counted(len(errors), 'problem')}; nothing was changed.", file=sys.stderr)
        return 1
    print(f"{counted(len(names), 'playbook')} valid in {target}: {', '.join(names)}")
    return 0


def _sandbox(speed: float | None, drill: str | None, port: int | None, cluster: str | None) -> int:
    from bot.runtime.log import configure as configure_logging
    from bot.sandbox.run import run
    from bot.sandbox.world import SandboxOptions

    options = SandboxOptions(speed=speed or 1.0, kube_context=cluster, http_port=port)
    configure_logging("WARNING", [])
    # Until SIGTERM or SIGINT, then a clean stop.
    asyncio.run(run(options, drill, speed_chosen=speed is not None))
    return 0


async def _report(incident_id: str) -> int:
    """Reads Redis only. With Slack tokens set, people are named as Slack names them; without,
    by their Slack IDs."""
    from bot.incident import parse_incident_id
    from bot.settings import load_storage_settings, slack_credentials_missing
    from bot.store.server import connect
    from bot.store.store import Store

    normalised = parse_incident_id(incident_id)
    if normalised is None:
        print(f"`{incident_id}` is not an incident ID; use the form INC-42.", file=sys.stderr)
        return 2
    try:
        storage = load_storage_settings()
    except ConfigurationError as exc:
        raise _Unconfigured(str(exc)) from None
    redis = connect(storage)
    try:
        store = Store(redis.client, prefix=storage.redis_prefix)
        names = None if slack_credentials_missing() else _slack_names(_settings())
        markdown = await _render_report(store, normalised, names)
    finally:
        await redis.close()
    print(markdown)
    return 0


def _slack_names(settings: Settings) -> Callable[[str], Awaitable[str]]:
    from bot.gateways.slack import SlackGateway, build_client

    client = build_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_base)
    return SlackGateway(client).display_name


async def _render_report(
    store: Store, incident_id: str, names: Callable[[str], Awaitable[str]] | None
) -> str:
    from bot.checklists.models import ChecklistBook
    from bot.clock import SystemClock
    from bot.incidents.service import report_of

    async def by_id(user: str) -> str:
        return user

    return await report_of(
        store, ChecklistBook(store), incident_id, SystemClock().now(), names or by_id
    )


async def _outbox(*, retry: bool) -> int:
    from bot.app import create_app

    app = create_app(_settings())
    try:
        parked = await app.outbox.parked_everywhere()
        for channel, slots in sorted(parked.items()):
            for slot, why in sorted(slots.items()):
                print(f"{channel}  {slot}  {why}")
            if retry:
                print(f"{channel}: {await app.outbox.retry_parked(channel)} queued again")
        if not parked:
            print("Nothing parked: every alert message Slack was given was accepted.")
    finally:
        await app.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
