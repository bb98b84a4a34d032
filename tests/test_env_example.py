"""`.env.example` as a person uses it: copied to `.env`, the Slack values filled in, nothing
else touched. Every empty line must mean "unset" (the built-in file, no channel, …), never `.`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.settings import DEFAULT_PLAYBOOKS_DIR, Settings, load_settings, load_storage_settings

ROOT = Path(__file__).resolve().parents[1]
SLACK = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefabcdef",
    "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
    "SLACK_APP_TOKEN": "xapp-1-A111-2222-abcdef",
}
REQUIRED = {k: v for k, v in SLACK.items() if k != "SLACK_APP_TOKEN"}


@pytest.fixture
def user_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A directory holding only `.env.example` copied to `.env`; no Fireline variable set."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fill(env: Path, values: dict[str, str]) -> None:
    """Edit `.env` as a person does: replace the value after `NAME=` on its line."""
    text = env.read_text(encoding="utf-8")
    for name, value in values.items():
        text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.MULTILINE)
        assert count == 1, f"{name} is not on a line of its own in .env.example"
    env.write_text(text, encoding="utf-8")


def empty_lines() -> list[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return re.findall(r"^([A-Z][A-Z0-9_]*)=\s*$", text, re.MULTILINE)


def test_env_example_with_the_slack_values_filled_in_loads(user_dir: Path) -> None:
    fill(user_dir / ".env", SLACK)
    settings = load_settings()

    assert settings.socket_mode
    assert settings.slack_bot_token.get_secret_value() == SLACK["SLACK_BOT_TOKEN"]
    # Every FIRELINE_*_FILE and the playbooks directory: empty means what ships with Fireline.
    assert settings.policy_file is None
    assert settings.checklists_file is None
    assert settings.playbooks_dir == DEFAULT_PLAYBOOKS_DIR
    assert DEFAULT_PLAYBOOKS_DIR.is_dir() and list(DEFAULT_PLAYBOOKS_DIR.glob("*.yaml"))


def test_every_empty_line_means_the_settings_default(user_dir: Path) -> None:
    fill(user_dir / ".env", SLACK)
    settings = load_settings()
    # The settings are built from their aliases (the environment names), which mypy cannot see.
    defaults = Settings(_env_file=None, **REQUIRED)  # type: ignore[arg-type]
    names = {field.alias: name for name, field in Settings.model_fields.items()}
    empty = [alias for alias in empty_lines() if alias not in SLACK]
    assert {"FIRELINE_POLICY_FILE", "FIRELINE_CHECKLISTS_FILE", "FIRELINE_PLAYBOOKS_DIR"} <= set(
        empty
    ), "the test would no longer cover the file settings"
    for alias in empty:
        name = names[alias]
        assert getattr(settings, name) == getattr(defaults, name), f"{alias}= is not unset"


def test_leaving_the_app_token_empty_means_http_mode(user_dir: Path) -> None:
    fill(user_dir / ".env", REQUIRED)
    assert not load_settings().socket_mode


def test_blank_values_count_as_unset_in_the_environment_too(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(user_dir / ".env", SLACK)
    monkeypatch.setenv("FIRELINE_POLICY_FILE", "   ")
    monkeypatch.setenv("FIRELINE_ALERTMANAGER_URL", "")
    monkeypatch.setenv("FIRELINE_HTTP_PORT", "")
    settings = load_settings()
    assert settings.policy_file is None and settings.alertmanager_url is None
    assert settings.http_port == 3000


def test_an_empty_required_value_is_reported_as_not_set(user_dir: Path) -> None:
    fill(user_dir / ".env", {**SLACK, "SLACK_SIGNING_SECRET": ""})
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET is not set"):
        load_settings()


def test_storage_settings_need_no_slack_tokens(user_dir: Path) -> None:
    """`fireline report` reads Redis only: `.env.example` untouched is enough for it."""
    storage = load_storage_settings()
    assert storage.redis_url is None and storage.data_dir == Path("data")
