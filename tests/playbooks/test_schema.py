"""Playbook files: every shipped one loads; each kind of mistake is named by file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.app import create_app
from bot.cli import main
from bot.diagnostics.actions import default_actions
from bot.errors import ConfigurationError
from bot.playbooks.loader import (
    fields_of,
    load_playbooks,
    params_models,
    validate_dir,
    validate_file,
)
from bot.playbooks.match import AlertFacts, best
from bot.playbooks.templates import MissingLabels
from bot.remediation.actions import default_remediations
from bot.settings import DEFAULT_PLAYBOOKS_DIR, Settings

ACTIONS = params_models(default_actions(), default_remediations())

GOOD = """
title: Disk full
summary: A volume is out of space.
match:
  alertnames: [KubePersistentVolumeFillingUp]
  keywords: [no space left]
diagnostics:
  - action: pods
    params: {target: "{{ labels.deployment }}", namespace: "{{ labels.namespace }}"}
    why: Which pods write to it.
  - action: logs
    params: {target: "{{ labels.deployment }}", since: 30m, grep: "ENOSPC"}
    why: The write errors.
remediations:
  - action: restart
    params: {deployment: "{{ labels.deployment }}"}
    when: Temporary files filled it.
guidance:
  immediate: [Delete what can be rebuilt.]
  long_term: [Alert at 80 %.]
links:
  - {title: Volumes, url: "https://kubernetes.io/docs/concepts/storage/volumes/"}
example:
  alertname: KubePersistentVolumeFillingUp
  labels: {namespace: orion-prod, deployment: task-service}
  annotations: {summary: "no space left on device"}
"""


def write(tmp_path: Path, text: str, name: str = "disk-full.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_for(tmp_path: Path, text: str) -> list[str]:
    _, errors = validate_file(write(tmp_path, text), ACTIONS)
    return errors


SHIPPED_TOPICS = (
    "db-connection-pool-exhaustion",
    "memory-leak",
    "high-cpu",
    "high-error-rate",
    "high-latency",
    "service-unavailable",
    "crash-loop",
    "slow-database-queries",
    "redis-memory-pressure",
    "upstream-rate-limiting",
    "cascade-failure",
    "failing-health-checks",
)


def test_every_shipped_playbook_loads_and_its_example_picks_it() -> None:
    playbooks = load_playbooks(DEFAULT_PLAYBOOKS_DIR, ACTIONS)
    assert set(SHIPPED_TOPICS) <= set(playbooks.by_name)
    for playbook in playbooks:
        example = playbook.example
        chosen = best(playbooks, AlertFacts.of(example.all_labels, example.annotations))
        assert chosen is not None and chosen.name == playbook.name, playbook.name
        assert playbook.guidance.immediate and playbook.guidance.long_term and playbook.links


def test_a_good_playbook_is_accepted(tmp_path: Path) -> None:
    playbook, errors = validate_file(write(tmp_path, GOOD), ACTIONS)
    assert errors == [] and playbook is not None and playbook.name == "disk-full"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("title: Disk full", "titel: Disk full"), "titel: not a playbook field"),
        (("summary: A volume is out of space.\n", ""), "summary: required, missing"),
        (
            ("action: pods", "action: podz"),
            "diagnostics.0.action: 'podz' is not a diagnostic action; did you mean pods?",
        ),
        (
            ("since: 30m", "sinse: 30m"),
            "diagnostics.1.params.sinse: not a parameter of logs (expected one of:",
        ),
        (
            ('{target: "{{ labels.deployment }}", namespace', "{namespace"),
            "diagnostics.0.params.target: pods needs it",
        ),
        (
            ("since: 30m", "tail_lines: lots"),
            "diagnostics.1.params.tail_lines: Input should be a valid integer",
        ),
        (
            ('"{{ labels.deployment }}", since', '"{{ deployment }}", since'),
            "diagnostics.1.params: {{ deployment }} is not a template: write {{ labels.NAME }}",
        ),
        (
            ('"{{ labels.deployment }}", since', '"{{ \\"x\\" | labels.app }}", since'),
            "a quoted default must come last",
        ),
        (
            ("action: restart", "action: reboot"),
            "remediations.0.action: Input should be 'restart', 'scale', 'rollback' or 'delete-pod'",
        ),
        (
            ('{deployment: "{{ labels.deployment }}"}', '{pod: "{{ labels.deployment }}"}'),
            "remediations.0.params: restart takes no parameter pod (accepted: cluster, deployment, "
            "namespace)",
        ),
        (
            (
                "  alertnames: [KubePersistentVolumeFillingUp]\n  keywords: [no space left]\n",
                "  labels: {severity: critical}\n",
            ),
            "match: give alertnames or keywords",
        ),
        (
            ('url: "https://kubernetes', 'url: "ftp://kubernetes'),
            "links.0.url: expected an http:// or https:// URL",
        ),
        (
            (
                "alertname: KubePersistentVolumeFillingUp\n  labels: {namespace: orion-prod, "
                'deployment: task-service}\n  annotations: {summary: "no space left on device"}',
                "alertname: Other\n  labels: {namespace: orion-prod, "
                'deployment: task-service}\n  annotations: {summary: "disk is fine"}',
            ),
            "example: does not match this playbook's `match`",
        ),
        (
            ("labels: {namespace: orion-prod, deployment: task-service}", "labels: {}"),
            "diagnostics.0.params.target: the example alert has no label deployment",
        ),
        (
            ("immediate: [Delete what can be rebuilt.]", "immediate: []"),
            "guidance.immediate: Tuple should have at least 1 item",
        ),
    ],
)
def test_each_kind_of_mistake_names_file_field_and_fix(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    errors = errors_for(tmp_path, GOOD.replace(old, new))
    assert errors, "the mistake was not caught"
    assert all(e.startswith(f"{tmp_path / 'disk-full.yaml'}: ") for e in errors)
    assert any(expected in e for e in errors), errors


def test_keyword_too_short_says_why(tmp_path: Path) -> None:
    errors = errors_for(tmp_path, GOOD.replace("[no space left]", "[no space left, ab]"))
    assert errors == [
        f"{tmp_path / 'disk-full.yaml'}: match.keywords: keyword 'ab' is too short to mean "
        "anything (3+ characters)"
    ]


def test_files_that_are_not_playbooks(tmp_path: Path) -> None:
    assert "not valid YAML" in errors_for(tmp_path, "title: [unclosed")[0]
    assert "expected a mapping of fields" in errors_for(tmp_path, "- a list")[0]
    assert "name: leave it out" in errors_for(tmp_path, "name: other\n" + GOOD)[0]
    bad_name = write(tmp_path, GOOD, "Disk Full.yaml")
    assert "name: String should match pattern" in validate_file(bad_name, ACTIONS)[1][0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no playbooks (*.yaml) in it" in validate_dir(empty, ACTIONS)[1][0]


def test_every_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("action: pods", "action: podz"), "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    write(tmp_path, GOOD.replace("title: Disk full", "titel: x"), "c.yaml")
    playbooks, errors = validate_dir(tmp_path, ACTIONS)
    assert list(playbooks.by_name) == ["b"]
    files = sorted({e.split(":")[0] for e in errors})
    assert files == [str(tmp_path / "a.yaml"), str(tmp_path / "c.yaml")]


def test_templates_fill_from_labels_with_fallbacks_and_refuse_odd_values() -> None:
    from bot.playbooks.templates import fill

    labels = {"app": "task-service", "namespace": "orion-prod", "odd": "a b; rm -rf /"}
    assert fill("{{ labels.deployment | labels.app }}", labels) == "task-service"
    assert fill('{{ labels.cluster | "prod" }}', labels) == "prod"
    assert fill("{{labels.namespace}}-db", labels) == "orion-prod-db"
    assert fill(5, labels) == 5
    with pytest.raises(MissingLabels) as missing:
        fill("{{ labels.deployment | labels.service }}", labels)
    assert missing.value.labels == ["deployment", "service"]
    with pytest.raises(MissingLabels):
        fill("{{ labels.odd }}", labels)  # free text never becomes a parameter


def test_validate_command_exit_codes_and_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["playbooks", "validate"]) == 0
    assert f"{len(SHIPPED_TOPICS)} playbooks valid" in capsys.readouterr().out
    write(tmp_path, GOOD.replace("action: pods", "action: podz"))
    assert main(["playbooks", "validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'disk-full.yaml'}: diagnostics.0.action: 'podz'" in err
    assert "1 problem; nothing was changed." in err
    good = write(tmp_path, GOOD, "fine.yaml")
    assert main(["playbooks", "validate", str(good)]) == 0
    assert "1 playbook valid" in capsys.readouterr().out


def test_a_bad_playbook_stops_start_up(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("action: pods", "action: podz"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret="secret",
        FIRELINE_PLAYBOOKS_DIR=str(tmp_path),
    )
    with pytest.raises(ConfigurationError) as raised:
        create_app(settings)
    assert f"{tmp_path / 'disk-full.yaml'}: diagnostics.0.action" in str(raised.value)


def test_every_shipped_remediation_button_follows_the_approval_contract() -> None:
    import json

    from bot import blockkit as blocks
    from bot.playbooks import views as playbook_blocks
    from bot.playbooks.templates import fill_params
    from bot.playbooks.views import FilledOffer

    remediations = {r.name: r for r in default_remediations()}
    for playbook in load_playbooks(DEFAULT_PLAYBOOKS_DIR, ACTIONS):
        labels = playbook.example.all_labels
        filled = [(o, fill_params(o.params, labels)) for o in playbook.remediations]
        offers = [FilledOffer(o, p, remediations[o.action].button(p)) for o, p in filled]
        _, body = playbook_blocks.guidance(playbook, offers, incident="INC-3", notes=[])
        buttons = [b["accessory"] for b in body if "accessory" in b]
        assert len(buttons) == len(playbook.remediations), playbook.name
        for button, offer in zip(buttons, playbook.remediations, strict=True):
            assert button["action_id"] == blocks.REMEDIATION_REQUEST == "remediation.request"
            value = json.loads(button["value"])
            assert value["action"] == offer.action and value["incident"] == "INC-3"
            required, optional = fields_of(ACTIONS.remediations[offer.action])
            assert required <= set(value["params"]) <= required | optional
            assert not any("{{" in str(v) for v in value["params"].values()), playbook.name
            assert len(button["value"]) <= 2000 and len(button["text"]["text"]) <= 75
