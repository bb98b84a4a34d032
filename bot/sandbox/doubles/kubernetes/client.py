"""Wiring the official `kubernetes` client (and kubeconfig users) to a running double."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

FAKE_TOKEN = "fireline-double-token"


def configuration(base_url: str, *, token: str = FAKE_TOKEN) -> client.Configuration:
    """A client Configuration pointing at the double, with a fake bearer token."""
    config = client.Configuration()
    config.host = base_url
    config.verify_ssl = False
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    return config


def api_client(base_url: str, *, token: str = FAKE_TOKEN) -> client.ApiClient:
    return client.ApiClient(configuration(base_url, token=token))


def write_kubeconfig(
    path: str | Path,
    base_url: str,
    *,
    context: str = "fireline-double",
    namespace: str = "default",
    token: str = FAKE_TOKEN,
) -> Path:
    """Write a kubeconfig whose current context points at the double."""
    target = Path(path)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": base_url}}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
    }
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target
