"""The checklists file and reminder settings: the shipped default, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.checklists.models import load_checklists
from bot.checklists.reminders import ReminderPolicy
from bot.errors import ConfigurationError
from bot.incident import Severity
from bot.settings import load_settings

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cret"}


def test_the_shipped_checklists_are_the_issues_three_marks() -> None:
    config = load_checklists()
    assert [(s.minutes, s.title) for s in config.default] == [
        (5, "First 5 minutes"),
        (15, "First 15 minutes"),
        (60, "First 60 minutes"),
    ]
    assert config.default[0].items[0] == "Is the issue impacting users right now?"
    assert config.default[2].items[-1] == "Have we documented our findings?"
    assert all(len(s.items) == 4 for s in config.default)


def test_a_severity_can_have_its_own_checklists(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "default:\n  - {minutes: 5, title: Five, items: [a]}\n"
        "by_severity:\n  P3:\n    - {minutes: 30, title: Thirty, items: [b, c]}\n"
    )
    config = load_checklists(path)
    assert [s.minutes for s in config.for_severity(Severity.P3)] == [30]
    assert [s.minutes for s in config.for_severity(Severity.P0)] == [5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default: [", "is not valid YAML at line 1"),
        ("- a\n- b\n", "must be a mapping with a `default:` list"),
        ("default:\n  - {minutes: 5, items: [a]}\n", "default[0].title is missing"),
        (
            "default:\n  - {minutes: five, title: T, items: [a]}\n",
            "default[0].minutes must be a whole number of minutes from 1 to 10080 (got 'five')",
        ),
        ("default:\n  - {minutes: 0, title: T, items: [a]}\n", "default[0].minutes must be"),
        (
            "default:\n  - {minutes: 15, title: A, items: [a]}\n"
            "  - {minutes: 5, title: B, items: [b]}\n",
            "marks must be unique and in increasing order (got minutes [15, 5])",
        ),
        ("default:\n  - {minutes: 5, title: T, items: []}\n", "default[0].items"),
        (
            "default:\n  - {minutes: 5, title: T, items: [a], colour: red}\n",
            "default[0].colour is not a known field",
        ),
        (
            "default:\n  - {minutes: 5, title: T, items: [a]}\nby_severity:\n  P9: []\n",
            "by_severity.P9 is not a severity (expected P0, P1, P2 or P3)",
        ),
    ],
)
def test_a_bad_file_names_itself_the_field_and_what_is_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "team-checklists.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as err:
        load_checklists(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_a_missing_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="FIRELINE_CHECKLISTS_FILE"):
        load_checklists(tmp_path / "nope.yaml")


def test_default_reminder_policy_matches_the_severity_matrix() -> None:
    policy = ReminderPolicy.parse()
    assert policy.ack_deadline == {
        Severity.P0: timedelta(seconds=0),
        Severity.P1: timedelta(seconds=15 * 60),
        Severity.P2: timedelta(seconds=3600),
        Severity.P3: timedelta(seconds=86400),
    }
    assert policy.update_every == {
        Severity.P0: timedelta(seconds=15 * 60),
        Severity.P1: timedelta(seconds=30 * 60),
        Severity.P2: timedelta(seconds=3600),
        Severity.P3: None,
    }


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("FIRELINE_ACK_DEADLINES", "P1=soon", "`soon` is not a duration"),
        ("FIRELINE_UPDATE_REMINDERS", "P7=15m", "P0, P1, P2 or P3"),
        ("FIRELINE_ONCALL_GROUPS", "P0=@oncall", "give the user group's ID"),
        ("FIRELINE_ACK_ESCALATE_AFTER", "later", "is not a duration"),
    ],
)
def test_bad_reminder_settings_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, var: str, value: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, v in {**GOOD, var: value}.items():
        monkeypatch.setenv(name, v)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert var in str(err.value) and expected in str(err.value)
