"""What Fireline watches of itself, as it is wired: the channels it writes to, by role (the
labels `/metrics` uses, and whose loss is a self-health problem), and the alert pipeline's
dead-man's switch."""

from __future__ import annotations

from bot.alerts.watchdog import Watchdog
from bot.clock import Clock
from bot.errors import ConfigurationError
from bot.gateways.slack import SlackGateway
from bot.policy.models import Policy
from bot.runtime.posts import Posts
from bot.runtime.scheduler import Scheduler
from bot.settings import Settings
from bot.store.store import Store


def channel_roles(settings: Settings, policy: Policy) -> dict[str, str]:
    """The channels Fireline is configured to write to, by role: the labels `/metrics` may
    use for them (never their IDs), and the ones whose loss is a self-health problem."""
    roles: dict[str, str] = {}
    if settings.alerts_channel:
        roles[settings.alerts_channel] = "alerts"
    for number, route in enumerate(policy.alerts.routes, start=1):
        roles.setdefault(route.channel, f"route-{number}")
    if settings.broadcast_channel:
        roles.setdefault(settings.broadcast_channel, "broadcast")
    return roles


def watchdog(
    settings: Settings,
    policy: Policy,
    store: Store,
    slack: SlackGateway,
    scheduler: Scheduler,
    clock: Clock,
) -> Watchdog | None:
    """The alert pipeline's dead-man's switch, when the policy asks for one."""
    heartbeat = policy.alerts.heartbeat
    if heartbeat is None:
        return None
    channel = settings.alerts_channel or settings.broadcast_channel
    if channel is None:
        raise ConfigurationError(
            "the policy's alerts.heartbeat needs a channel to speak in: "
            "set FIRELINE_ALERTS_CHANNEL (or FIRELINE_BROADCAST_CHANNEL)"
        )
    posts = Posts(store.redis, store.keys, slack)
    return Watchdog(store.redis, store.keys, scheduler, posts, clock, heartbeat, channel=channel)
