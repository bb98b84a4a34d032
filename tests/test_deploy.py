"""deploy/: every Kubernetes manifest is valid (kubernetes-validate, strict), the diagnostics'
Role only reads and never touches secrets, probes hit the bot's real endpoints, and the policy
shipped in the ConfigMap and the example policy both load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.app.fireline import STOP_BEYOND_GRACE_S
from bot.diagnostics.actions import default_actions
from bot.policy.models import load_policy
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
VERSION = kubernetes_validate.latest_version()


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[n for n, _ in documents()])
def test_manifest_is_valid_in_strict_mode(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_every_required_object_is_there() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Deployment", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret"} <= kinds


def test_role_is_read_only_and_has_no_secrets() -> None:
    role = next(
        doc
        for _, doc in documents()
        if doc["kind"] == "Role" and doc["metadata"]["name"] == "fireline-diagnostics"
    )
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"]
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    needed = {
        ("", "pods"), ("", "pods/log"), ("", "events"), ("", "services"), ("", "endpoints"),
        ("apps", "deployments"), ("apps", "replicasets"),
        ("autoscaling", "horizontalpodautoscalers"), ("metrics.k8s.io", "pods"),
    }  # fmt: skip
    assert needed <= granted


def test_probes_and_non_root() -> None:
    deployment = next(doc for _, doc in documents() if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "slim" in dockerfile


def test_kubernetes_waits_longer_than_a_graceful_stop_takes() -> None:
    """SIGKILL must not cut a drain short: the pod's grace period exceeds Fireline's own
    (`FIRELINE_SHUTDOWN_GRACE_S` as the Deployment sets it, else the default) plus what a
    stop takes after it."""
    deployment = next(doc for _, doc in documents() if doc["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}
    default = Settings.model_fields["shutdown_grace_s"].default
    grace = float(env.get("FIRELINE_SHUTDOWN_GRACE_S") or default)
    assert pod["terminationGracePeriodSeconds"] > grace + STOP_BEYOND_GRACE_S
    assert default + STOP_BEYOND_GRACE_S < 30, "the default fits Kubernetes' default of 30 s"


def test_shipped_policies_load(tmp_path: Path) -> None:
    names = [a.name for a in default_actions()]
    load_policy(ROOT / "deploy" / "policy.example.yaml", names)
    config = next(doc for _, doc in documents() if doc["kind"] == "ConfigMap")
    path = tmp_path / "policy.yaml"
    path.write_text(config["data"]["policy.yaml"])
    policy = load_policy(path, names)
    assert policy.clusters["local"].in_cluster


def test_remediation_role_writes_only_what_remediation_needs_where_the_policy_allows(
    tmp_path: Path,
) -> None:
    roles = [d for _, d in documents() if d["kind"] == "Role"
             and d["metadata"]["name"] == "fireline-remediation"]  # fmt: skip
    bindings = {
        d["metadata"]["namespace"]
        for _, d in documents()
        if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "fireline-remediation"
    }
    assert roles
    granted = set()
    for role in roles:
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["verbs"]
            granted |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"]
                        for v in rule["verbs"]}  # fmt: skip
    assert granted == {
        ("apps", "deployments", "get"), ("apps", "deployments", "patch"),
        ("apps", "deployments/scale", "get"), ("apps", "deployments/scale", "patch"),
        ("", "pods", "delete"),
    }  # fmt: skip
    config = next(doc for _, doc in documents() if doc["kind"] == "ConfigMap")
    path = tmp_path / "policy.yaml"
    path.write_text(config["data"]["policy.yaml"])
    section = load_policy(path).remediation
    allowed = {ns for rule in section.actions.values() for ns in rule.namespaces}
    # Bound exactly in the namespaces the shipped policy lets remediation touch.
    assert {r["metadata"]["namespace"] for r in roles} == bindings == allowed
