"""The `fireline` command: the report printed locally, and set-up help when tokens are missing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.conftest import REDIS_URL
from tests.harness import SIGNING_SECRET, Harness

ROOT = Path(__file__).resolve().parents[1]


def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.process
@pytest.mark.slow
async def test_report_prints_the_incident_locally(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prefix: str
) -> None:
    h = harness
    incident_id, channel = await h.declare(h.alice, "P1 Checkout down")
    await h.command(h.alice, "followup Page on pool saturation", channel)
    clean_env(monkeypatch, tmp_path)
    env = {
        "SLACK_BOT_TOKEN": h.slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": h.slack.api_url,
        "REDIS_URL": REDIS_URL,
        "FIRELINE_REDIS_PREFIX": prefix,
    }
    result = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "report",
        incident_id.lower(),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await result.communicate()
    assert result.returncode == 0, err.decode()
    text = out.decode()
    assert text.startswith(f"# Post-incident report: {incident_id} — Checkout down")
    assert "- [ ] Page on pool saturation" in text and "@alice" in text


def test_report_with_a_bad_id_says_the_form(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "x")
    assert main(["report", "42"]) == 2
    assert "use the form INC-42" in capsys.readouterr().err


@pytest.mark.process
@pytest.mark.slow
def test_serve_with_one_token_missing_explains_what_to_set(tmp_path: Path) -> None:
    """Half a Slack set-up is a mistake to report, not a reason to start the sandbox."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": "xoxb-1",
            "HOME": str(tmp_path),  # a serve that got further would write ~/.kube there
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    for fragment in (
        "SLACK_SIGNING_SECRET is not set",
        "OAuth & Permissions",
        "Signing Secret",
        "deploy/slack-app-manifest.yml",
    ):
        assert fragment in result.stderr
