"""`fireline sandbox`: start the sandbox, say where its page is (and the simulated cluster's
kubeconfig), serve until SIGTERM or SIGINT.

Whatever happens (a taken port, a wrong drill name, a signal during start-up), everything the
sandbox started is stopped before the process exits: the embedded Redis, the doubles' servers,
the HTTP sessions.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.app import run_until_signalled
from bot.sandbox.doubles.kubernetes import ORION_PROD, write_kubeconfig
from bot.sandbox.world import Sandbox, SandboxOptions

KUBECONFIG = Path.home() / ".kube" / "fireline-sandbox.yaml"
"""Where `fireline sandbox` writes the simulated cluster's kubeconfig (rewritten each run: the
port changes), so a responder can run kubectl beside the bot."""


def kubeconfig_path(default: Path, server: str) -> Path:
    """`default`, unless another sandbox that is still running has its cluster there: then a
    file of this sandbox's own beside it (`fireline-sandbox-<port>.yaml`), so neither's
    `export KUBECONFIG=…` ends up pointing at the other's cluster."""
    current = server_in(default)
    if current is None or current == server or not _answers(current):
        return default
    port = urlsplit(server).port
    return default.with_name(f"{default.stem}-{port}{default.suffix}")


def server_in(kubeconfig: Path) -> str | None:
    """The cluster address a kubeconfig Fireline wrote points at (None: no such file)."""
    try:
        document = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        return str(document["clusters"][0]["cluster"]["server"])
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


def _answers(server: str) -> bool:
    parts = urlsplit(server)
    if parts.hostname is None or parts.port is None:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return True
    except OSError:
        return False


async def run(
    options: SandboxOptions,
    drill: str | None = None,
    kubeconfig: Path = KUBECONFIG,
    *,
    speed_chosen: bool = True,
) -> None:
    """Start the sandbox, print where its page is (and the simulated cluster's kubeconfig),
    and serve until SIGTERM or SIGINT. A drill runs at its own recommended speed unless
    `--speed` was chosen (`speed_chosen`)."""
    from bot.sandbox.drill import load_drill, start_drill

    script = load_drill(drill) if drill is not None else None  # a wrong name fails first
    if script is not None and not speed_chosen:
        options.speed = script.speed
    sandbox = Sandbox(options)
    written: list[tuple[Path, str]] = []
    made: list[Path] = []  # a directory (~/.kube) that was not there before the sandbox
    served: list[bool] = []

    async def start() -> None:
        await sandbox.start()
        served.append(True)
        print(f"Fireline sandbox: open {sandbox.url}", flush=True)
        if sandbox.kube is not None:
            server = sandbox.kube.base_url
            path = kubeconfig_path(kubeconfig, server)
            if not path.parent.exists():
                made.append(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_kubeconfig(path, server, namespace=ORION_PROD)
            written.append((path, server))
            print(f"Simulated cluster for kubectl: export KUBECONFIG={path}", flush=True)
        if sandbox.targets is not None and sandbox.observatory is not None:
            real = sandbox.observatory.real is not None
            print(
                f"Simulated Prometheus: {sandbox.targets.graph_url} · Alertmanager "
                f"({'prometheus-alertmanager' if real else 'simulated'}): "
                f"{sandbox.targets.alertmanager_url}",
                flush=True,
            )
            databases = ", ".join(sandbox.targets.databases)
            print(
                f"db: {databases} (the local PostgreSQL on 127.0.0.1:5432)"
                if databases
                else "db: no PostgreSQL answered on 127.0.0.1:5432, so `db` has no database",
                flush=True,
            )
        if script is not None:
            start_drill(sandbox, script)
            print(f"Drill ready: {script.title}. {script.about}", flush=True)
            print(
                f"Made for --speed {script.speed:g}; running at ×{options.speed:g}. Targets "
                f"from the first alert: {script.targets_text(options.speed)}.",
                flush=True,
            )
            print("Press Start on the page when your team is ready.", flush=True)

    async def stop() -> None:
        await sandbox.stop()
        for path, server in written:  # ours still: nobody's cluster answers there any more
            if server_in(path) == server:
                path.unlink(missing_ok=True)
        for directory in made:  # nothing left behind: an empty ~/.kube the sandbox made goes
            with contextlib.suppress(OSError):  # not empty (kubectl's cache, another's file)
                directory.rmdir()
        if served:  # a start-up that failed says why instead (bot/cli.py)
            print(
                "Fireline sandbox stopped: its incidents, cluster and Redis are gone "
                "(the next start begins afresh).",
                flush=True,
            )

    await run_until_signalled(start, stop)
