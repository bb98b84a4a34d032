"""A Slack Web API / workspace double serving real HTTP (and Socket Mode) on 127.0.0.1."""

from __future__ import annotations

from .delivery import AppConfig
from .double import SlackDouble
from .errors import SlackError
from .faults import Fault
from .ratelimit import RateLimitMode, RateLimits
from .records import CallRecord, Delivery, Ephemeral, ResponseUrlPost
from .reference import MethodCatalog, MethodSpec
from .socket_mode import NO_ACK_STATUS

__all__ = [
    "NO_ACK_STATUS",
    "AppConfig",
    "CallRecord",
    "Delivery",
    "Ephemeral",
    "Fault",
    "MethodCatalog",
    "MethodSpec",
    "RateLimitMode",
    "RateLimits",
    "ResponseUrlPost",
    "SlackDouble",
    "SlackError",
]
