"""Fireline as a team installs it: the wheel built from the sources, installed into a fresh
virtual environment, started from an empty directory. Everything it reads at run time (the
playbooks, the checklists, the sandbox's page and drills, the Slack method reference) must come
from inside the package, never from a checkout next to it."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import venv
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.doubles.slack import SlackDouble
from tests.fireline_process import NOISE, ROOT, Fireline, get, redis_servers_in

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(900)]
SOURCES = ("pyproject.toml", "README.md", "bot", "handlers", "playbooks")
"""What a build sees (as deploy/Dockerfile copies it): not tests/, not the developer's venv."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (so no stale build/ of the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, src / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, src / name)
    dist = tmp_path_factory.mktemp("dist")
    pip(["wheel", "--no-deps", "--wheel-dir", str(dist), str(src)])
    (built,) = dist.glob("fireline-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no site packages) with the wheel and its dependencies."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, clear=True).create(env)
    pip(["--python", str(env / "bin" / "python"), "install", "--no-compile", str(wheel)])
    return env


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        yield double


def pip(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def empty_dir(tmp_path: Path) -> Path:
    where = tmp_path / "anywhere"
    where.mkdir()
    return where


def installed_env(env: Path, **values: str) -> dict[str, str]:
    """Only the venv on the PATH: no PYTHONPATH, no checkout anywhere near."""
    return {"PATH": f"{env / 'bin'}:/usr/bin:/bin", **values}


def fireline(env: Path, args: list[str], cwd: Path, **values: str) -> Fireline:
    return Fireline.command(
        str(env / "bin" / "fireline"), args, cwd=cwd, env=installed_env(env, **values)
    )


def test_the_wheel_holds_the_playbooks_and_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("bot/playbooks/shipped/") for n in names if "/shipped/" in n}
    assert shipped == {p.name for p in (ROOT / "playbooks").glob("*.yaml")}
    for data in (
        "bot/checklists/data/checklists.yaml",
        "bot/sandbox/static/index.html",
        "bot/sandbox/data/alerts.yaml",
        "bot/sandbox/data/drills/memory-leak.yaml",
        "bot/sandbox/doubles/slack_api_ref/methods/chat.postMessage.json",
        "bot/py.typed",
    ):
        assert data in names, f"{data} is not in the wheel"
    assert not any(n.startswith(("tests/", "playbooks/")) for n in names)


def test_playbooks_validate_finds_the_shipped_ones(installed: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(installed / "bin" / "fireline"), "playbooks", "validate"],
        cwd=empty_dir(tmp_path),
        env=installed_env(installed),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    count = len(list((ROOT / "playbooks").glob("*.yaml")))
    assert f"{count} playbooks valid in {installed}" in result.stdout  # inside the venv


async def test_fireline_serve_from_an_empty_directory(
    installed: Path, tmp_path: Path, slack: SlackDouble
) -> None:
    cwd = empty_dir(tmp_path)
    run = await fireline(
        installed,
        ["serve"],
        cwd,
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.app.signing_secret,
        SLACK_API_URL=slack.api_url,
        FIRELINE_HTTP_HOST="127.0.0.1",
        FIRELINE_HTTP_PORT="0",
    ).start()
    try:
        url = await run.url()
        assert (await get(f"{url}/healthz")).status_code == 200
        assert (await get(f"{url}/readyz")).json()["checks"] == {
            "redis": True,
            "slack": True,
            "slack_access": True,
        }
        assert await run.stop(signal.SIGTERM) == 0, run.output
    finally:
        await run.kill()
    assert redis_servers_in(cwd / "data") == []
    assert not any(noise in run.output for noise in NOISE), run.output


async def test_fireline_sandbox_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    run = await fireline(installed, ["sandbox", "--port", "0"], empty_dir(tmp_path)).start()
    try:
        url = await run.url()
        assert (await get(f"{url}/healthz")).status_code == 200
        page = await get(f"{url}/", follow_redirects=True)
        assert page.status_code == 200 and "Fireline sandbox" in page.text
        token = re.search(r'name="sandbox-token" content="([^"]+)"', page.text)
        assert token is not None
        headers = {"X-Sandbox-Token": token.group(1)}
        state = (await get(f"{url}/sandbox/api/state", headers=headers)).json()
        assert state["people"], "the workspace is populated from the shipped data"
        assert (await get(f"{url}/sandbox/static/app.js", headers=headers)).status_code == 200
        assert await run.stop(signal.SIGINT) == 0, run.output
    finally:
        await run.kill()
    assert not any(noise in run.output for noise in NOISE), run.output
