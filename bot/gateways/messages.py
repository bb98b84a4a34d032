"""What the gateways feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations

from bot.blockkit import code


def kube_write_forbidden(verb: str, resource: str, namespace: str) -> str:
    where = f" in {code(namespace)}" if namespace else ""
    return (
        f"Kubernetes refused: Fireline's service account may not {code(verb)} {code(resource)}"
        f"{where}. Grant {code(verb)} on {code(resource)} in the fireline-remediation Role and "
        "bind it in that "
        "namespace (deploy/kubernetes/rbac-remediation.yaml)."
    )
