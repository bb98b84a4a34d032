"""Alert → playbook: alert names first, then symptoms in the text; label matchers narrow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.payload import parse
from bot.alerts.playbooks import alert_facts
from bot.diagnostics.actions import default_actions
from bot.playbooks.loader import load_playbooks, params_models
from bot.playbooks.match import AlertFacts, best, ranked
from bot.playbooks.models import Playbook
from bot.playbooks.templates import fill_params
from bot.remediation.actions import default_remediations
from bot.settings import DEFAULT_PLAYBOOKS_DIR

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alertmanager"


@pytest.fixture(scope="module")
def playbooks():
    return load_playbooks(
        DEFAULT_PLAYBOOKS_DIR, params_models(default_actions(), default_remediations())
    )


def facts(alertname: str, labels: dict[str, str] | None = None, **annotations: str) -> AlertFacts:
    return AlertFacts.of({"alertname": alertname, **(labels or {})}, annotations)


def test_a_captured_notification_finds_its_playbook_and_fills_its_parameters(playbooks) -> None:
    notification = parse((FIXTURES / "firing-single.json").read_bytes())
    playbook = best(playbooks, alert_facts(notification))
    assert playbook is not None and playbook.name == "high-error-rate"
    labels = notification.commonLabels
    filled = [fill_params(step.params, labels) for step in playbook.diagnostics]
    assert filled[0] == {"query": "error-rate", "service": "task-service"}
    # No `deployment` label: the fallback to `service` names the deployment.
    assert filled[1] == {"deployment": "task-service", "namespace": "orion-prod"}


def test_the_group_of_three_is_a_memory_leak(playbooks) -> None:
    notification = parse((FIXTURES / "firing-group-of-3.json").read_bytes())
    playbook = best(playbooks, alert_facts(notification))
    assert playbook is not None and playbook.name == "memory-leak"


def test_symptom_keywords_in_the_description_pick_a_playbook_for_an_unknown_alert(
    playbooks,
) -> None:
    found = best(
        playbooks,
        facts(
            "CheckoutErrors",
            {"namespace": "shop"},
            summary="checkout failing",
            description="FATAL: remaining connection slots are reserved for superuser",
        ),
    )
    assert found is not None and found.name == "db-connection-pool-exhaustion"
    assert best(playbooks, facts("Watchdog", summary="all is well")) is None
    # Words inside other words do not count: "latency" is not in "latencyless".
    assert best(playbooks, facts("Foo", summary="latencyless")) is None


def test_an_alert_name_beats_keywords_and_the_order_is_stable(playbooks) -> None:
    # The description mentions latency, but the alert name says crash loop.
    chosen = ranked(
        playbooks,
        facts("KubePodCrashLooping", summary="pod restarting", description="latency up"),
    )
    assert [p.name for p in chosen][:2] == ["crash-loop", "high-latency"]


def make(name: str, match: dict[str, Any]) -> Playbook:
    base = {
        "name": name,
        "title": name,
        "summary": "s",
        "match": match,
        "diagnostics": [{"action": "pods", "params": {"target": "x"}, "why": "w"}],
        "guidance": {"immediate": ["a"], "long_term": ["b"]},
        "links": [{"title": "t", "url": "https://example.com"}],
        "example": {"alertname": "X"},
    }
    return Playbook.model_validate(base)


def test_label_matchers_narrow_and_the_more_specific_wins() -> None:
    generic = make("generic", {"alertnames": ["HighLatency"]})
    payments = make(
        "payments",
        {"alertnames": ["HighLatency"], "labels": {"team": "payments", "namespace": "pay-*"}},
    )
    glob = make("glob", {"alertnames": ["High*"]})
    books = [glob, payments, generic]
    pay_eu = {"team": "payments", "namespace": "pay-eu"}
    assert best(books, facts("HighLatency", pay_eu)) is payments
    assert best(books, facts("HighLatency", {"team": "payments", "namespace": "shop"})) is generic
    assert best(books, facts("HighLatency", {"namespace": "pay-eu"})) is generic  # no team label
    assert best(books, facts("HighCPU")) is glob  # the pattern still matches
    listed = make("listed", {"keywords": ["boom"], "labels": {"severity": ["critical", "page"]}})
    assert best([listed], facts("A", {"severity": "page"}, summary="boom")) is listed
    assert best([listed], facts("A", {"severity": "info"}, summary="boom")) is None


def test_the_notification_text_includes_every_alert_and_label_values() -> None:
    data = json.loads((FIXTURES / "firing-group-of-3.json").read_bytes())
    data["commonAnnotations"] = {}
    data["alerts"][2]["annotations"]["description"] = "java.lang.OutOfMemoryError: heap"
    seen = alert_facts(parse(json.dumps(data).encode()))
    assert "java.lang.outofmemoryerror" in seen.text
    assert seen.labels["alertname"] == "PodMemoryGrowing"
