"""Settings: one object, clear errors, and `.env.example` kept equal to the fields."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from bot.incident import Severity
from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cret"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_env_example_lists_exactly_the_settings() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    fields = {f.alias for f in Settings.model_fields.values()}
    assert listed == fields


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 20, f"{name} has no docstring"


def test_missing_tokens_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert "SLACK_BOT_TOKEN is not set" in str(err.value)
    assert "SLACK_SIGNING_SECRET is not set" in str(err.value)


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN must be a bot token"),
        ("SLACK_APP_TOKEN", "xoxb-nope", "SLACK_APP_TOKEN must be an app-level token"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        ("FIRELINE_BROADCAST_CHANNEL", "#incidents", "must be a channel ID"),
        ("FIRELINE_CHANNEL_PREFIX", "Inc Prefix", "FIRELINE_CHANNEL_PREFIX must be"),
        ("FIRELINE_HTTP_PORT", "99999", "FIRELINE_HTTP_PORT"),
    ],
)
def test_invalid_values_are_explained(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    for k, v in {**GOOD, var: value}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigurationError, match=expected):
        load_settings()


def test_secrets_never_appear_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**GOOD, "SLACK_APP_TOKEN": "xoxb-leaky-secret"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert "leaky" not in str(err.value)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-secret-app")
    settings = load_settings()
    assert "s3cret" not in repr(settings) and "secret-app" not in repr(settings)
    assert settings.socket_mode


def test_unknown_setting_in_dotenv_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=x\nFIRELINE_TYPO=1\n"
    )
    with pytest.raises(ConfigurationError, match="FIRELINE_TYPO is not a Fireline setting"):
        load_settings()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    assert settings.channel_prefix == "inc" and not settings.socket_mode
    assert settings.slack_api_base == "https://slack.com/api/"


def test_durations_are_read_once_into_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    defaults = load_settings()
    assert defaults.ack_deadlines == {
        Severity.P0: timedelta(0),
        Severity.P1: timedelta(minutes=15),
        Severity.P2: timedelta(hours=1),
        Severity.P3: timedelta(days=1),
    }
    assert defaults.ack_escalate_after == timedelta(minutes=5)
    assert defaults.update_reminders[Severity.P3] is None and defaults.oncall_groups == {}

    monkeypatch.setenv("FIRELINE_ACK_DEADLINES", "P0=90s, p2=off")
    monkeypatch.setenv("FIRELINE_ACK_ESCALATE_AFTER", "2h")
    monkeypatch.setenv("FIRELINE_ONCALL_GROUPS", "P0=S0123ABCD")
    settings = load_settings()
    assert settings.ack_deadlines == {
        Severity.P0: timedelta(seconds=90),
        Severity.P1: None,
        Severity.P2: None,
        Severity.P3: None,
    }
    assert settings.ack_escalate_after == timedelta(hours=2)
    assert settings.oncall_groups == {Severity.P0: "S0123ABCD"}


def test_typed_values_pass_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    settings = load_settings(
        ack_escalate_after=timedelta(seconds=30),
        update_reminders={Severity.P0: timedelta(minutes=1)},
    )
    assert settings.ack_escalate_after == timedelta(seconds=30)
    assert settings.update_reminders == {Severity.P0: timedelta(minutes=1)}
