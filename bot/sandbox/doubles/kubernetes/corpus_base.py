"""The corpus's shared pieces: what a scenario is, and its Prometheus series as steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.doubles.kubernetes.store import Cluster

REGISTRY = "registry.orion.example.com"
Steps = tuple[tuple[float, float], ...]
"""(minutes ago it began, value) pairs, oldest first: the value from then on."""

QUIET_ERRORS: Steps = ((60, 0.2),)
QUIET_LATENCY: Steps = ((60, 0.12),)


@dataclass(frozen=True)
class Scenario:
    name: str
    playbook: str | None
    """The seed playbook (playbooks/<name>.yaml) it stands for; None for the controls."""
    deployment: str
    cause: str
    """The cause, as a competent SRE would name it."""
    expect: tuple[str, ...]
    """Phrases the first line must contain (case-insensitive)."""
    build: Callable[[Cluster, str], None]
    signals: dict[str, Steps] = field(default_factory=dict)
    forbid: tuple[str, ...] = ()

    @property
    def namespace(self) -> str:
        return f"orion-{self.name}"[:63]

    def named(self, first_line: str) -> bool:
        """Whether a diagnosis's first line names this scenario's cause."""
        line = first_line.lower()
        return all(p.lower() in line for p in self.expect) and not any(
            p.lower() in line for p in self.forbid
        )


def value_at(steps: Steps, minutes_ago: float) -> float:
    """The value a signal had `minutes_ago` minutes before now."""
    value = steps[0][1]
    for began, step_value in steps:
        if minutes_ago <= began:
            value = step_value
    return value
