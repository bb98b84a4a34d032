"""README's "Slack app set-up", steps 4 and 5, followed as written: `cp .env.example .env`, the
values it names filled in, `make run`, until `/healthz` answers. Slack is the double (Socket
Mode, as the manifest sets it up), so two more lines are edited in `.env`: `SLACK_API_URL`
points at the double and the HTTP server takes a free loopback port. The steps are read from
README itself, so a README that drifts from what works fails here."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.doubles.slack import SlackDouble
from tests.fireline_process import NOISE, ROOT, Fireline, get, redis_servers_in, until

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(300)]


def setup_steps() -> dict[int, str]:
    """The numbered steps of README's set-up section, by number."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Slack app set-up", 1)[1].split("\n## ", 1)[0]
    steps = re.split(r"^(\d+)\. ", section, flags=re.MULTILINE)[1:]
    return {int(n): " ".join(text.split()) for n, text in zip(steps[::2], steps[1::2], strict=True)}


def shell(command: str, cwd: Path) -> None:
    subprocess.run(["sh", "-c", command], cwd=cwd, check=True, timeout=30)


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble(socket_mode=True) as double:
        yield double


def fill(env: Path, values: dict[str, str]) -> None:
    text = env.read_text(encoding="utf-8")
    for name, value in values.items():
        text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.MULTILINE)
        assert count == 1, f"{name} is not a line of .env"
    env.write_text(text, encoding="utf-8")


async def test_readme_set_up_steps_reach_a_healthy_bot(tmp_path: Path, slack: SlackDouble) -> None:
    steps = setup_steps()
    step4, step5 = steps[4], steps[5]
    copy = re.match(r"`([^`]+)`", step4)
    assert copy is not None and copy.group(1) == "cp .env.example .env", step4
    named = re.findall(r"`([A-Z][A-Z_]+)`", step4)
    assert named[:3] == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"], step4
    assert step5.startswith("`make run`"), step5

    # The checkout, as far as these steps see it: .env.example (the rest is the real checkout).
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    shell(copy.group(1), tmp_path)  # step 4, as written
    incidents = slack.add_channel("incidents")
    values = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.app.signing_secret,
        "SLACK_APP_TOKEN": slack.app_token,
        "FIRELINE_BROADCAST_CHANNEL": incidents,
    }
    assert set(named) <= set(values), f"README names a value this test does not fill: {named}"
    fill(tmp_path / ".env", {name: values[name] for name in named})
    # Pointing at the double instead of slack.com, on a free loopback port.
    fill(
        tmp_path / ".env",
        {
            "SLACK_API_URL": slack.api_url,
            "FIRELINE_HTTP_HOST": "127.0.0.1",
            "FIRELINE_HTTP_PORT": "0",
        },
    )

    # Step 5, in the directory holding .env; the checkout's venv is already installed (-o).
    make = [f"-f{ROOT / 'Makefile'}", f"-o{ROOT / '.venv' / '.installed'}", "run"]
    run = Fireline.command("make", make, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    await run.start(own_group=True)
    try:
        url = await run.url()
        assert (await get(f"{url}/healthz")).status_code == 200

        async def ready() -> bool:
            return (await get(f"{url}/readyz")).status_code == 200

        await until(ready, "/readyz: Socket Mode connected")
        run.signal_group(signal.SIGINT)  # Ctrl-C in the terminal
        await run.exit_code()  # make's own, after it says it was interrupted
    finally:
        await run.kill()
    assert "Socket Mode" in run.output and "Fireline stopped" in run.output
    assert redis_servers_in(tmp_path / "data") == []
    assert not any(noise in run.output for noise in NOISE), run.output
