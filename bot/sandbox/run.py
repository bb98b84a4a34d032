"""`fireline sandbox`: start the sandbox, say where its page is (and the simulated cluster's
kubeconfig), serve until SIGTERM or SIGINT.

Whatever happens (a taken port, a wrong drill name, a signal during start-up), everything the
sandbox started is stopped before the process exits: the embedded Redis, the doubles' servers,
the HTTP sessions.
"""

from __future__ import annotations

from pathlib import Path

from bot.app import run_until_signalled
from bot.sandbox.doubles.kubernetes import ORION_PROD, write_kubeconfig
from bot.sandbox.world import Sandbox, SandboxOptions

KUBECONFIG = Path.home() / ".kube" / "fireline-sandbox.yaml"
"""Where `fireline sandbox` writes the simulated cluster's kubeconfig (rewritten each run: the
port changes), so a responder can run kubectl beside the bot."""


async def run(
    options: SandboxOptions, drill: str | None = None, kubeconfig: Path = KUBECONFIG
) -> None:
    """Start the sandbox, print where its page is (and the simulated cluster's kubeconfig),
    and serve until SIGTERM or SIGINT."""
    from bot.sandbox.drill import load_drill, start_drill

    script = load_drill(drill) if drill is not None else None  # a wrong name fails first
    sandbox = Sandbox(options)

    async def start() -> None:
        await sandbox.start()
        print(f"Fireline sandbox: open {sandbox.url}", flush=True)
        if sandbox.kube is not None:
            kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            write_kubeconfig(kubeconfig, sandbox.kube.base_url, namespace=ORION_PROD)
            print(f"Simulated cluster for kubectl: export KUBECONFIG={kubeconfig}", flush=True)
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
            print(f"Drill started: {script.title}. {script.about}", flush=True)

    await run_until_signalled(start, sandbox.stop)
