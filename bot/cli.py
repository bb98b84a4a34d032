"""The `fireline` command: `serve` runs the bot (the sandbox when no Slack tokens are set),
`sandbox` runs the local sandbox, `report INC-42` prints a report locally,
`playbooks validate [PATH]` checks playbook files before they are deployed,
`outbox [--retry]` lists (and queues again) alert messages Slack refused."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bot.errors import ConfigurationError, FirelineError

SETUP_HELP = """\
Fireline needs a Slack app before it can run. Three values, in .env (copy .env.example) or the
environment:

  SLACK_BOT_TOKEN       xoxb-…  Slack app → OAuth & Permissions → Bot User OAuth Token
  SLACK_SIGNING_SECRET          Slack app → Basic Information → App Credentials → Signing Secret
  SLACK_APP_TOKEN       xapp-…  Slack app → Basic Information → App-Level Tokens, scope
                                connections:write (optional: set it for Socket Mode, no public URL)

Create the app in one paste from deploy/slack-app-manifest.yml (README: "Slack app set-up").
"""


NO_TOKENS = (
    """\
No Slack tokens are set, so Fireline starts in its local sandbox: a Slack-like page on this
machine, a simulated cluster, nothing sent anywhere. To run the real bot, set the tokens:

"""
    + SETUP_HELP
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fireline", description="Slack incident bot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the bot")
    sandbox = sub.add_parser(
        "sandbox", help="run Fireline against a local Slack emulator and a simulated cluster"
    )
    sandbox.add_argument(
        "--speed", type=_speed, default=1.0, help="sandbox time runs N times faster (default 1)"
    )
    sandbox.add_argument("--drill", metavar="NAME", help="run a scripted incident drill")
    sandbox.add_argument("--port", type=int, default=None, help="HTTP port (default 3000)")
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
            return _serve()
        if args.command == "playbooks":
            return _validate_playbooks(args.path)
        if args.command == "outbox":
            return asyncio.run(_outbox(retry=args.retry))
        if args.command == "sandbox":
            return _sandbox(args.speed, args.drill, args.port, args.cluster)
        return asyncio.run(_report(args.incident_id))
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        if "SLACK_" in str(exc):
            print("\n" + SETUP_HELP, file=sys.stderr)
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


def _serve() -> int:
    from bot.app import serve
    from bot.runtime.log import configure as configure_logging
    from bot.settings import load_settings, slack_credentials_missing

    if slack_credentials_missing():
        print(NO_TOKENS, file=sys.stderr, flush=True)
        return _sandbox(1.0, None, None, None)
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0


def _validate_playbooks(path: str | None) -> int:
    from pathlib import Path

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
        print(f"{len(errors)} problem(s); nothing was changed.", file=sys.stderr)
        return 1
    print(f"{len(names)} playbook(s) valid in {target}: {', '.join(names)}")
    return 0


def _sandbox(speed: float, drill: str | None, port: int | None, cluster: str | None) -> int:
    from bot.runtime.log import configure as configure_logging
    from bot.sandbox.run import run
    from bot.sandbox.world import SandboxOptions

    options = SandboxOptions(speed=speed, kube_context=cluster, http_port=port)
    configure_logging("WARNING", [])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(options, drill))
    return 0


async def _report(incident_id: str) -> int:
    from bot.app import create_app
    from bot.incident import parse_incident_id
    from bot.settings import load_settings

    normalised = parse_incident_id(incident_id)
    if normalised is None:
        print(f"`{incident_id}` is not an incident ID; use the form INC-42.", file=sys.stderr)
        return 2
    app = create_app(load_settings())
    try:
        _, markdown = await app.services.incidents.render_report(normalised)
    finally:
        await app.stop()
    print(markdown)
    return 0


async def _outbox(*, retry: bool) -> int:
    from bot.app import create_app
    from bot.settings import load_settings

    app = create_app(load_settings())
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
