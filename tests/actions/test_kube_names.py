"""Names are checked as Kubernetes checks them before any API call (issue 13, finding 10).

`orion-*` in the policy matched `orion-x/../../api`, and a name goes into an API path. Typed,
clicked or filled in from an alert, a namespace must be a DNS label and a deployment, pod or
other object name a DNS subdomain: anything else is told what a valid name looks like, and the
cluster receives nothing.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.actions.base import KubeParams, is_dns_label, is_dns_subdomain
from bot.diagnostics.actions import default_actions
from bot.errors import UsageError
from bot.remediation.actions import default_remediations
from tests.harness import Harness
from tests.remediation.world import NS, approval_cards, button_request, declare, deployment_of

BAD_NAMESPACES = ["orion-x/../../api", "orion-X", "orion-", "orion-prod%2F..", "orion prod",
                  "orion-" + "x" * 60, "orion-é", "orion-prod\n"]  # fmt: skip
BAD_NAMES = ["../../secrets", "task-service/status", "Task-Service", "-task", "task-", "a..b",
             "x" * 254, "task-service?watch=1", "task-service\x00"]  # fmt: skip
ACTIONS = {a.name: a for a in (*default_actions(), *default_remediations())}


@pytest.mark.parametrize("name", ["orion-prod", "a", "0", "a-b-1", "x" * 63])
def test_dns_labels(name: str) -> None:
    assert is_dns_label(name) and is_dns_subdomain(name)


@pytest.mark.parametrize("name", ["checkout-7d9f8-x2x4q", "a.b.c", "kube-dns.v1", "x" * 253])
def test_dns_subdomains(name: str) -> None:
    assert is_dns_subdomain(name)


@pytest.mark.parametrize("namespace", BAD_NAMESPACES)
def test_every_kubernetes_action_refuses_a_bad_namespace(namespace: str) -> None:
    with pytest.raises(ValidationError):
        KubeParams(namespace=namespace)
    for action in ACTIONS.values():
        if issubclass(action.Params, KubeParams):
            words = [w for w in action.usage.split()[1:] if w.startswith("<")][:1]
            args = ["task-service" for _ in words] + (["3"] if action.name == "scale" else [])
            told = "as Kubernetes names are: `orion-x`" if namespace == "orion-X" else "orion-prod`"
            with pytest.raises(UsageError, match=told):
                action.build(
                    {
                        **dict(zip(action.Params.positional, args, strict=False)),
                        "namespace": namespace,
                    }
                )


@pytest.mark.parametrize(
    ("action", "field"),
    [("diagnose", "deployment"), ("describe", "pod"), ("events", "object"), ("pods", "target"),
     ("logs", "target"), ("top", "target"), ("rollout-history", "deployment"), ("hpa", "name"),
     ("endpoints", "service"), ("restart", "deployment"), ("scale", "deployment"),
     ("rollback", "deployment"), ("delete-pod", "pod")],
)  # fmt: skip
def test_every_object_name_is_checked(action: str, field: str) -> None:
    extra = {"replicas": 3} if action == "scale" else {}
    for name in BAD_NAMES:
        with pytest.raises(UsageError, match=f"`{field}` must be "):
            ACTIONS[action].build({field: name, **extra})
    assert ACTIONS[action].build({field: "task-service", **extra})


def test_label_selectors_still_select() -> None:
    for selector in ("app=task-service", "app.kubernetes.io/name=x,tier!=canary", "env in (a,b)"):
        assert ACTIONS["pods"].build({"target": selector})
    with pytest.raises(UsageError):
        ACTIONS["pods"].build({"target": "app=x\n/../../api"})


# --- against the running bot and the Kubernetes double ---------------------------------------


async def test_a_bad_namespace_is_told_and_nothing_is_called(world: Harness) -> None:
    w = world
    await w.kube_settled()
    w.kube.requests.clear()
    for text in (
        "pods task-service -n orion-x/../../api",
        "describe task-service-abc --namespace orion-x/../../api",
        "events -n ../kube-system",
    ):
        await w.command(w.rita, text)
    told = w.ephemeral_texts(w.rita)
    refusals = [t for t in told if "must be a namespace name" in t and "like `orion-prod`" in t]
    assert len(refusals) == 3, told
    assert len(w.kube.requests) == 0, [r.path for r in w.kube.requests.find()]


async def test_a_bad_name_is_told_and_nothing_is_called(world: Harness) -> None:
    w = world
    await w.kube_settled()
    w.kube.requests.clear()
    for text in ("describe ../../secrets", "pods ../../api/v1/secrets", "events kube/../x"):
        await w.command(w.rita, text)
    told = w.ephemeral_texts(w.rita)
    assert sum("must be a Kubernetes name" in t or "or a label selector" in t for t in told) == 3
    assert len(w.kube.requests) == 0, [r.path for r in w.kube.requests.find()]


async def test_a_name_typed_with_capitals_is_answered_with_its_lowercase(world: Harness) -> None:
    """Kubernetes names are lowercase: `Checkout` is answered with what to type, not the rule,
    and nothing is called. (A label selector keeps its case: its values may have capitals.)"""
    w = world
    await w.kube_settled()
    w.kube.requests.clear()
    await w.command(w.rita, "pods Task-Service")
    await w.told(w.rita, "`target` must be lowercase, as Kubernetes names are: `task-service`")
    await w.command(w.rita, "pods task-service -n Orion-Prod")
    await w.told(w.rita, "must be lowercase, as Kubernetes names are: `orion-prod`")
    assert len(w.kube.requests) == 0, [r.path for r in w.kube.requests.find()]


async def test_a_remediation_with_a_bad_name_is_refused_before_any_preview(world: Harness) -> None:
    w = world
    _, channel = await declare(w, w.cleo, "P1 tasks failing")
    before = deployment_of(w, "task-service", NS)["metadata"]["generation"]
    await w.kube_settled()
    w.kube.requests.clear()
    await w.command(w.rita, "restart task-service -n orion-x/../../api", channel=channel)
    await w.told(w.rita, "must be a namespace name")
    await w.command(w.rita, "delete-pod ../../nodes/x", channel=channel)
    await w.told(w.rita, "must be a Kubernetes name")
    # A button's value is what anyone can forge.
    await button_request(
        w,
        w.rita,
        channel,
        {"action": "restart", "params": {"deployment": "task-service", "namespace": "orion-x/.."}},
    )
    assert sum("must be a namespace name" in t for t in w.ephemeral_texts(w.rita)) == 2
    assert not approval_cards(w, channel)
    assert len(w.kube.requests) == 0, [r.path for r in w.kube.requests.find()]
    assert deployment_of(w, "task-service", NS)["metadata"]["generation"] == before
