"""A remediation is one class: given to the app (`Deps.remediations`), it is a command, it is in
`help`, the policy may enable it, playbooks may offer it with its own parameters and button, and
it goes through preview, approval, apply and verify; an app built without it knows nothing of
it. The `Annotate` class below is the whole of a new remediation (plus its policy entry)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from bot.actions.kubernetes import resolve_deployment
from bot.app import Deps, create_app
from bot.blockkit import unescape
from bot.commands.dispatch import Dispatcher
from bot.diagnostics.actions import default_actions
from bot.errors import ConfigurationError, UsageError
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.playbooks.loader import params_models, validate_file
from bot.playbooks.models import Playbooks
from bot.policy.models import load_policy
from bot.policy.remediation import RemediationRule
from bot.remediation import views as approval_blocks
from bot.remediation.actions import default_remediations
from bot.remediation.actions.base import Change, Intent, Plan, Preview
from bot.remediation.actions.deployment import (
    DeploymentParams,
    DeploymentRemediation,
    deployment_state,
)
from bot.remediation.actions.restart import Restart, RestartIntent
from bot.remediation.actions.scale import Scale, ScaleIntent
from bot.remediation.store import State
from bot.settings import load_settings
from bot.store.server import RedisHandle
from tests.harness import Harness, eventually
from tests.playbooks.test_schema import GOOD
from tests.remediation.world import (
    NS,
    approval_cards,
    approval_text,
    click,
    declare,
    deployment_of,
    make_policy,
    until_state,
    writes,
)

NOTE = "fireline.example/note"


class NoteParams(DeploymentParams):
    positional = ("deployment", "note")

    note: str
    """What to leave on the deployment for the next person."""


class NoteIntent(Intent):
    note: str


class Annotate(DeploymentRemediation[NoteParams, NoteIntent]):
    """Leave a note on a deployment (an annotation): nothing restarts."""

    name = "annotate"
    usage = "annotate <deployment> <note> [-n namespace] [--cluster name]"
    verb = "Annotate"
    Params = NoteParams
    Intent = NoteIntent

    async def preview(self, request: Preview[NoteParams]) -> Plan:
        params = request.params
        current = await resolve_deployment(request.kube, request.namespace, params.deployment)
        before = _note(current) or "none"
        await request.kube.patch_deployment(
            request.namespace,
            params.deployment,
            _patch(params.note),
            resource_version=current["metadata"]["resourceVersion"],
            dry_run=True,
        )
        return self.plan(
            request,
            current,
            changes=[Change(what="note", before=before, after=params.note)],
            state=deployment_state(current),
            intent=NoteIntent(note=params.note),
        )

    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        return await kube.patch_deployment(
            plan.namespace,
            plan.name,
            _patch(self.intent(plan).note),
            resource_version=plan.resource_version,
            dry_run=False,
        )

    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        current = await kube.get_deployment(plan.namespace, plan.name)
        return _note(current) == self.intent(plan).note


def _patch(note: str) -> Obj:
    return {"metadata": {"annotations": {NOTE: note}}}


def _note(deployment: Obj) -> str | None:
    return (deployment["metadata"].get("annotations") or {}).get(NOTE)


WITH_ANNOTATE = (*default_remediations(), Annotate())
RULE = RemediationRule(namespaces=("orion-*",))


async def test_a_new_remediation_class_is_a_command_previewed_approved_and_applied(
    world: Harness,
) -> None:
    w = world
    await w.stop()  # the fixture's app has only the default remediations
    await w.start(
        policy=make_policy(w.rita, w.apollo, w.cleo, w.otto, actions={"annotate": RULE}),
        remediations=WITH_ANNOTATE,
    )
    await w.command(w.rita, "help")
    assert any(
        Annotate.usage in unescape(t) and "Leave a note on a deployment" in t
        for t in w.ephemeral_texts(w.rita)
    )

    _, channel = await declare(w, w.cleo, "P1 tasks failing")
    await w.command(w.rita, "annotate task-service paged-db-team", channel=channel)
    await eventually(
        lambda: approval_cards(w, channel),
        what=f"a card; rita was told {w.ephemeral_texts(w.rita)}",
    )
    assert "note: none → *paged-db-team*" in approval_text(w, channel)
    assert _note(deployment_of(w, "task-service")) is None  # previewed, not applied

    await click(w, w.apollo, channel, approval_blocks.APPROVE)  # a policy approver
    await until_state(w, "R-1", State.SUCCEEDED)
    assert _note(deployment_of(w, "task-service")) == "paged-db-team"
    assert len(writes(w, "patch", "deployments/task-service")) == 1


def test_an_app_without_a_remediation_knows_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    unused = RedisHandle(client=Redis(), description="unused")
    # The shipped playbooks offer restart: an app built without it refuses them.
    with pytest.raises(ConfigurationError, match=r"remediations.0.action: .*\(value: 'restart'\)"):
        create_app(settings, Deps(redis=unused, remediations=(Scale(),)))
    # And `/incident restart` is not a command of a router whose remediations lack it.
    incidents = SimpleNamespace(store=None, clock=None)
    router = Dispatcher(incidents, remediation=SimpleNamespace(actions={"scale": Scale()}))  # type: ignore[arg-type]
    assert router.parse("scale api 3").action
    with pytest.raises(UsageError, match="`restart` is not an `/incident` command"):
        router.parse("restart api")


def test_the_policy_knows_only_the_remediations_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
        "remediation: {enabled: true, actions: {restart: {}, annotate: {}}}\n"
    )
    names = [r.name for r in WITH_ANNOTATE]
    assert set(load_policy(path, remediations=names).remediation.actions) == {"restart", "annotate"}
    with pytest.raises(ConfigurationError) as err:
        load_policy(path, remediations=[r.name for r in default_remediations()])
    assert str(path) in str(err.value)
    assert "remediation.actions.annotate: 'annotate' is not a remediation (known: delete-pod, " in (
        str(err.value)
    )


def test_the_app_checks_its_policy_against_its_own_remediations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "policy.yaml"
    path.write_text(
        "roles: {viewer: {}, responder: {}, commander: {}, admin: {}}\n"
        "remediation: {enabled: true, actions: {restart: {}}}\n"
    )
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", FIRELINE_POLICY_FILE=str(path)
    )
    unused = RedisHandle(client=Redis(), description="unused")
    with pytest.raises(ConfigurationError, match="'restart' is not a remediation"):
        create_app(settings, Deps(redis=unused, remediations=(Scale(),), playbooks=Playbooks({})))


def test_playbooks_offer_what_the_remediations_given_accept(tmp_path: Path) -> None:
    offer = 'action: annotate\n    params: {deployment: "{{ labels.deployment }}", note: paged}'
    path = tmp_path / "disk-full.yaml"
    path.write_text(
        GOOD.replace('action: restart\n    params: {deployment: "{{ labels.deployment }}"}', offer)
    )
    with_annotate = params_models(default_actions(), WITH_ANNOTATE)
    playbook, errors = validate_file(path, with_annotate)
    assert errors == [] and playbook is not None
    assert playbook.remediations[0].action == "annotate"

    _, errors = validate_file(path, params_models(default_actions(), default_remediations()))
    assert errors == [
        f"{path}: remediations.0.action: Input should be 'restart', 'scale', 'rollback' or "
        "'delete-pod' (value: 'annotate')"
    ]
    path.write_text(
        GOOD.replace(
            'action: restart\n    params: {deployment: "{{ labels.deployment }}"}',
            offer.replace(", note: paged", ""),
        )
    )
    _, errors = validate_file(path, with_annotate)
    assert errors == [f"{path}: remediations.0.params: annotate needs note"]


def test_a_remediation_names_its_own_button() -> None:
    assert Annotate().button({"deployment": "task-service", "note": "x"}) == (
        "Annotate task-service"
    )
    assert Scale().button({"deployment": "api", "replicas": 6}) == "Scale api to 6"
    assert [r.button({"deployment": "api", "pod": "api-1"}) for r in default_remediations()] == [
        "Restart api", "Scale api", "Roll back api", "Delete pod api-1",
    ]  # fmt: skip


def test_a_plan_keeps_its_typed_intent_through_the_store() -> None:
    plan = Plan(
        action="scale", kind="deployment", name="api", cluster="c", namespace=NS,
        resource_version="7", uid="u", changes=[], state="", intent={"replicas": 6, "before": 3},
    )  # fmt: skip
    stored = Plan.model_validate_json(plan.model_dump_json())
    assert Scale().intent(stored) == ScaleIntent(replicas=6, before=3)
    assert Restart().intent(
        stored.model_copy(update={"intent": {"restarted_at": "2026-01-15T09:00:00Z"}})
    ) == RestartIntent(restarted_at="2026-01-15T09:00:00Z")
