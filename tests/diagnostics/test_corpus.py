"""`diagnose` on the scenario corpus (bot/sandbox/doubles/kubernetes/corpus.py): one incident per
seed playbook, a healthy control and a misleading rollout, through the Kubernetes double (every
served object schema-checked) and a Prometheus API stand-in. The first line must name the cause
a competent SRE would name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bot.gateways.prometheus import PrometheusGateway
from bot.policy.models import Prometheus
from bot.sandbox.doubles.kubernetes import KubernetesDouble
from bot.sandbox.doubles.kubernetes.corpus import SCENARIOS, Scenario, build_corpus
from bot.settings import DEFAULT_PLAYBOOKS_DIR
from tests.diagnostics.conftest import COMMANDER, Rig, make_policy, make_rig
from tests.diagnostics.prometheus_api import corpus_app, serve
from tests.diagnostics.scenario import new_cluster

PLAYBOOKS = sorted(path.stem for path in DEFAULT_PLAYBOOKS_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def corpus_double() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(build_corpus(new_cluster())) as double:
        yield double


@pytest.fixture
async def corpus_rig(corpus_double: KubernetesDouble, diag_store: Any) -> AsyncIterator[Rig]:
    async with httpx.AsyncClient() as http, serve(corpus_app(SCENARIOS)) as url:
        policy = make_policy(prometheus=Prometheus(url=url))
        gateway = PrometheusGateway(http, url, timeout_s=2)
        yield make_rig(corpus_double, diag_store, policy, prometheus=gateway, http=http)


def test_the_corpus_covers_every_seed_playbook_and_the_controls() -> None:
    assert len(PLAYBOOKS) == 12
    assert sorted(s.playbook for s in SCENARIOS if s.playbook) == PLAYBOOKS
    assert {s.name for s in SCENARIOS if s.playbook is None} == {"healthy", "misleading-rollout"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_the_first_line_names_the_cause(corpus_rig: Rig, scenario: Scenario) -> None:
    run = await corpus_rig.run(
        COMMANDER, "diagnose", f"{scenario.deployment} -n {scenario.namespace}"
    )
    assert run.result is not None, run.message
    first = run.result.headline[0]
    assert scenario.named(first), f"{scenario.name}: {first!r} does not name: {scenario.cause}"
    assert not run.result.failures, run.result.failures
