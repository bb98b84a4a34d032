"""The policy's `alerts:` section: where alerts go, and with whose authority Fireline acts on them.

- `routes`: label matchers → channel, first match wins; alerts no route matches go to
  `FIRELINE_ALERTS_CHANNEL`. Matchers are shell-style patterns (`orion-*`) on the group's common
  labels: by severity, team, namespace or any other label.
- `run_as`: the role the alert pipeline holds when it runs a playbook's diagnostics on the first
  firing of a group. Nobody clicked anything, so no person's roles apply; the runs are audited as
  the user `ALERT_PRINCIPAL`, which no Slack user ID can equal (those start with U or W).
- `per_minute`: the alert pipeline's own rate limit (a storm must not starve people of theirs).
- `silence_roles`: who may use the Silence 1 h button.
- `heartbeat`: the dead-man's switch (`bot.alerts.watchdog`): an alert Alertmanager always fires
  (its `Watchdog`) expected at least every `every`; off when absent.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.durations import parse_duration

ALERT_PRINCIPAL = "alertmanager"
"""The audit `user` of alert-triggered diagnostics; roles: the policy's `alerts.run_as`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class AlertRoute(_Strict):
    """Alert groups whose common labels match every pattern here go to `channel`."""

    match: dict[str, str] = Field(min_length=1)
    """Label → shell-style pattern (`severity: critical`, `namespace: "payments-*"`)."""

    channel: str
    """Slack channel ID (`C…`)."""

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if value[:1] not in {"C", "G"} or not value.isalnum() or value.upper() != value:
            raise ValueError(f"{value!r} is not a channel ID (C0123456789), not a #name")
        return value

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(
            key in labels and fnmatch.fnmatchcase(labels[key], pattern)
            for key, pattern in self.match.items()
        )


class HeartbeatPolicy(_Strict):
    """An always-firing alert whose silence means the alert pipeline is broken."""

    alertname: str = Field(default="Watchdog", min_length=1, max_length=200)
    """The `alertname` of the alert Alertmanager always fires (kube-prometheus: `Watchdog`)."""

    every: timedelta = timedelta(minutes=15)
    """Say so when it has not arrived for this long (`15m`; more than the route's
    `repeat_interval`, which is how often Alertmanager sends it again)."""

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("every")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("heartbeat.every must be at least 1m")
        return value


class AlertPolicy(_Strict):
    """How Fireline handles alerts from Alertmanager."""

    run_as: str = "viewer"
    """Role alert-triggered playbook diagnostics run with (audited as user `alertmanager`)."""

    per_minute: int = Field(default=60, ge=1)
    """Diagnostics the alert pipeline may run per rolling minute, across all alert groups."""

    silence_roles: tuple[str, ...] = ("responder", "commander", "admin")
    """Roles whose holders may silence an alert group for an hour from Slack."""

    routes: tuple[AlertRoute, ...] = ()
    """Label matchers → channel, first match wins; unmatched: FIRELINE_ALERTS_CHANNEL."""

    heartbeat: HeartbeatPolicy | None = None
    """The alert pipeline's dead-man's switch; told in FIRELINE_ALERTS_CHANNEL. Off if absent."""

    def role_errors(self, roles: Mapping[str, object]) -> list[str]:
        """What in this section names a role the policy does not define."""
        errors = []
        if self.run_as not in roles:
            errors.append(f"alerts.run_as {self.run_as!r} is not one of the roles")
        errors += [
            f"alerts.silence_roles: {role!r} is not one of the roles"
            for role in self.silence_roles
            if role not in roles
        ]
        return errors
