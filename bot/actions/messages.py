"""What the actions feature says to a person, as small functions.

Written for someone woken at 3 a.m.: what happened first, then exactly what to type. Nothing
here may include a token or secret.
"""

from __future__ import annotations


def no_cluster_configured() -> str:
    return (
        "No Kubernetes cluster is configured in the Fireline policy (or several are and none is "
        "the default). An admin sets `clusters` and `default_cluster` in the policy file."
    )


def bad_argument(field: str, problem: str, usage_text: str) -> str:
    return f"`{field}` {problem}. Type `/incident {usage_text}`."


def missing_argument(field: str, usage_text: str) -> str:
    return f"Say which {field}: `/incident {usage_text}`."
