"""`fireline sandbox` writes a kubeconfig for its simulated cluster and says how to use it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.sandbox.run import run, server_in
from bot.sandbox.world import SandboxOptions
from bot.store.server import RedisHandle
from tests.harness import eventually

KUBECTL = Path("/usr/bin/kubectl")
HAVE_KUBECTL = KUBECTL.exists()


@pytest.mark.process
async def test_the_sandbox_prints_a_kubeconfig_for_its_cluster(
    redis_handle: RedisHandle, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kube" / "fireline-sandbox.yaml"
    options = SandboxOptions(http_port=0, redis=redis_handle, redis_prefix=prefix)
    serving = asyncio.create_task(run(options, kubeconfig=path))
    try:
        await eventually(path.exists, 20.0, "the kubeconfig")
        config = yaml.safe_load(path.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        assert server.startswith("http://127.0.0.1:")
        assert config["contexts"][0]["context"]["namespace"] == "orion-prod"
        printed = await eventually(lambda: "KUBECONFIG" in (out := capsys.readouterr().out) and out)
        assert f"export KUBECONFIG={path}" in printed
        if HAVE_KUBECTL:  # the real thing reads it (the kubectl tests cover the rest)
            env = {**os.environ, "KUBECONFIG": str(path), "HOME": str(tmp_path)}
            done = await asyncio.to_thread(
                subprocess.run,
                [str(KUBECTL), "get", "deploy", "checkout", "-o", "name"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.stdout.strip() == "deployment.apps/checkout", done.stderr
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    # Stopped, it leaves nothing behind: not its file, nor the empty directory (~/.kube on a
    # machine without kubectl) it made for it.
    assert not path.exists() and not path.parent.exists()


@pytest.mark.process
async def test_a_second_sandbox_keeps_its_own_kubeconfig_and_each_removes_its_own(
    redis_handle: RedisHandle, prefix: str, tmp_path: Path
) -> None:
    """Two sandboxes at once (another port): the second writes `fireline-sandbox-<port>.yaml`
    rather than repointing the first's file at its cluster; each file goes with its sandbox."""
    default = tmp_path / "kube" / "fireline-sandbox.yaml"
    first = asyncio.create_task(
        run(
            SandboxOptions(http_port=0, redis=redis_handle, redis_prefix=prefix), kubeconfig=default
        )
    )
    second: asyncio.Task[None] | None = None
    try:
        await eventually(default.exists, 20.0, "the first sandbox's kubeconfig")
        ours = server_in(default)
        second = asyncio.create_task(
            run(
                SandboxOptions(http_port=0, redis=redis_handle, redis_prefix=prefix + "2:"),
                kubeconfig=default,
            )
        )
        own = await eventually(
            lambda: next(iter(default.parent.glob("fireline-sandbox-*.yaml")), None),
            20.0,
            "the second sandbox's own kubeconfig",
        )
        assert server_in(default) == ours, "the first sandbox's file still points at its cluster"
        port = int(own.stem.rsplit("-", 1)[1])
        assert server_in(own) == f"http://127.0.0.1:{port}" != ours
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        assert not own.exists() and server_in(default) == ours
    finally:
        for task in (first, second):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert not default.exists()
