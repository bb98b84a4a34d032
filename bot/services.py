"""The bundle of long-lived objects handlers are given: built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.alerts.playbooks import AlertPlaybooks
from bot.alerts.service import AlertThreads
from bot.checklists.service import Followups
from bot.clock import Clock
from bot.commands.dispatch import Dispatcher
from bot.gateways.slack import SlackGateway
from bot.incidents.service import IncidentService
from bot.runtime.inflight import InFlight
from bot.settings import Settings
from bot.store.store import Store

if TYPE_CHECKING:
    from bot.remediation.service import RemediationService


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
