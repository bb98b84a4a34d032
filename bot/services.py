"""The bundle of long-lived objects handlers are given: built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.alert_playbooks import AlertPlaybooks
from bot.alert_threads import AlertThreads
from bot.clock import Clock
from bot.dispatch import Dispatcher
from bot.followups import Followups
from bot.inflight import InFlight
from bot.lifecycle import IncidentService
from bot.settings import Settings
from bot.slack import SlackGateway
from bot.store import Store

if TYPE_CHECKING:
    from bot.remediation import RemediationService


@dataclass
class Services:
    settings: Settings
    store: Store
    slack: SlackGateway
    incidents: IncidentService
    clock: Clock
    dispatcher: Dispatcher
    inflight: InFlight
    alerts: AlertThreads
    followups: Followups
    remediation: RemediationService | None = None
    alert_playbooks: AlertPlaybooks | None = None
