"""Fireline's Prometheus metrics: one registry per app, served at `GET /metrics`.

Why an instance and not prometheus_client's default registry: the default is process-wide,
filled at import time, and every test that builds a second bot in the same process would need
to swap it out (kopf's lesson). `Metrics()` is built by the composition root and handed to
what it measures; each replica serves its own, and Prometheus adds the `instance` label.

Labels are bounded by construction, never by hope: command kinds, Slack methods, job kinds,
action names and outcomes come from Fireline's own code and registries; Slack's error codes
are kept only when they are in `SLACK_CODES` (others count as `other`); a channel is a label
only when it is one Fireline is configured to write to (the broadcast channel,
`FIRELINE_ALERTS_CHANNEL`, the policy's alert routes), and then by its role (`broadcast`,
`alerts`, `route-2`), never its ID; any other channel counts as `other`. Incident IDs, user
IDs, alert labels and free text never become labels.

Figures that live in Redis (the outbox's depth, age and parked slots, the scheduler's oldest
overdue job, the alert heartbeat) are read when Prometheus scrapes, by the `readers` their
owners register, each bounded by `READ_TIMEOUT_S`: a slow Redis makes that one figure
disappear for a scrape (and `fireline_metrics_read_ok{source}` say so), never holds an ack.

This module is the only one that imports `prometheus_client` (`.importlinter`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.errors import TemporaryError

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
READ_TIMEOUT_S = 0.5
"""How long a scrape waits for one Redis-backed figure (Prometheus' default timeout is 10 s)."""
MIN_REFRESH_S = 1.0
"""Redis-backed figures are read at most this often, however often `/metrics` is asked."""
OTHER = "other"

ACK_KINDS = frozenset(
    {
        "command",
        "block_actions",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "block_suggestion",
        "event",
    }
)
"""What Slack delivers to `/slack/events`; anything else is `other`."""

SELF_HEALTH_CODES = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "token_revoked",
        "invalid_auth",
        "account_inactive",
        "missing_scope",
    }
)
"""Slack's answers that mean Fireline itself lost access (`bot.gateways.slack_health`)."""

SLACK_CODES = SELF_HEALTH_CODES | frozenset(
    {
        "ratelimited",
        "is_archived",
        "name_taken",
        "already_in_channel",
        "already_pinned",
        "cant_invite_self",
        "message_not_found",
        "cant_update_message",
        "msg_too_long",
        "invalid_blocks",
        "invalid_arguments",
        "user_not_in_channel",
        "user_not_found",
        "no_such_subteam",
        "expired_trigger_id",
        "not_authed",
        "restricted_action",
        "unknown_error",
    }
)
"""Slack error codes kept as an `outcome` label; Slack's documented set is open-ended."""

ACK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0)
"""Slack's limit is 3 s; the buckets are finest where a healthy ack lands."""
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

Reader = Callable[["Metrics"], Awaitable[None]]


class Metrics:
    """Every figure Fireline exposes, registered in this instance's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.channel_names: dict[str, str] = {}
        self.readers: dict[str, Reader] = {}
        self.min_refresh_s = MIN_REFRESH_S
        self._refreshed = float("-inf")
        self._refreshing: asyncio.Lock | None = None
        r = self.registry
        self.ack_seconds = Histogram(
            "fireline_ack_seconds",
            "Time from a Slack request's arrival to its answer (the ack), by kind.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.slack_calls = Counter(
            "fireline_slack_calls_total",
            "Slack Web API calls by method and outcome (ok, ratelimited, unavailable, or "
            "Slack's error code).",
            ["method", "outcome"],
            registry=r,
        )
        self.slack_rate_limit_waits = Counter(
            "fireline_slack_rate_limit_waits_total",
            "Times a Slack call waited for a token from the shared rate-limit budget.",
            ["priority"],
            registry=r,
        )
        self.slack_rate_limited = Counter(
            "fireline_slack_rate_limited_total",
            "429 answers from Slack, by method.",
            ["method"],
            registry=r,
        )
        self.slack_access_errors = Counter(
            "fireline_slack_access_errors_total",
            "Slack refusals that mean Fireline lost access: removed from a configured channel, "
            "a revoked or invalid token, a missing scope.",
            ["reason"],
            registry=r,
        )
        self.slack_access_problems = Gauge(
            "fireline_slack_access_problems",
            "Access problems open now (cleared when the call succeeds again); fails /readyz.",
            ["reason"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "fireline_outbox_depth",
            "Alert writes waiting in the outbox, per alert channel (read from Redis).",
            ["channel"],
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "fireline_outbox_oldest_age_seconds",
            "Age of the oldest write waiting in the outbox, per alert channel (0 when empty).",
            ["channel"],
            registry=r,
        )
        self.outbox_parked = Gauge(
            "fireline_outbox_parked",
            "Alert writes Slack refused, parked for `fireline outbox --retry`, per channel.",
            ["channel"],
            registry=r,
        )
        self.outbox_sends = Counter(
            "fireline_outbox_sends_total",
            "Outbox writes by outcome (sent, throttled, retried, parked).",
            ["outcome"],
            registry=r,
        )
        self.scheduler_lateness = Histogram(
            "fireline_scheduler_lateness_seconds",
            "How long after its due time a job started, by kind.",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.scheduler_overdue = Gauge(
            "fireline_scheduler_overdue_seconds",
            "How long the most overdue job not yet claimed has been due (0 if none; from Redis).",
            registry=r,
        )
        self.job_failures = Counter(
            "fireline_job_failures_total",
            "Scheduled jobs that failed, by kind and what followed (retried, gave_up, error).",
            ["kind", "outcome"],
            registry=r,
        )
        self.alert_notifications = Counter(
            "fireline_alertmanager_notifications_total",
            "Alertmanager webhook notifications by outcome (accepted, unauthorized, too_large, "
            "malformed, unavailable; dropped by the worker after a permanent failure).",
            ["outcome"],
            registry=r,
        )
        self.alert_heartbeats = Counter(
            "fireline_alert_heartbeats_total",
            "Heartbeat alerts (Alertmanager's Watchdog) received.",
            registry=r,
        )
        self.alert_heartbeat_missing = Gauge(
            "fireline_alert_heartbeat_missing",
            "1 while the expected heartbeat alert has stopped arriving (from Redis).",
            registry=r,
        )
        self.diagnostics = Counter(
            "fireline_diagnostics_total",
            "Diagnostic runs by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.remediations = Counter(
            "fireline_remediations_total",
            "Remediation events by action and outcome (requested, approved, succeeded, failed, "
            "unknown, stale, expired, …).",
            ["action", "outcome"],
            registry=r,
        )
        self.redis_errors = Counter(
            "fireline_redis_errors_total",
            "Redis failures met by Fireline's loops and endpoints, by component.",
            ["component"],
            registry=r,
        )
        self.read_ok = Gauge(
            "fireline_metrics_read_ok",
            "1 if the last scrape could read this Redis-backed figure within its timeout.",
            ["source"],
            registry=r,
        )

    # --- recording (what the instrumented code calls) --------------------------------------

    def name_channels(self, names: Mapping[str, str]) -> None:
        """The configured channels (ID → role: `broadcast`, `alerts`, `route-1`, …): the only
        ones with a label of their own, named by role so `/metrics` shows no Slack IDs."""
        self.channel_names = dict(names)

    @property
    def channels(self) -> frozenset[str]:
        """The labels configured channels have."""
        return frozenset(self.channel_names.values())

    def channel(self, channel: str) -> str:
        """A channel as a label: its role if configured, else `other` (bounded)."""
        return self.channel_names.get(channel, OTHER)

    def ack(self, kind: str, seconds: float) -> None:
        self.ack_seconds.labels(kind if kind in ACK_KINDS else OTHER).observe(seconds)

    def slack_call(self, method: str, outcome: str) -> None:
        if outcome not in ("ok", "unavailable") and outcome not in SLACK_CODES:
            outcome = OTHER
        self.slack_calls.labels(method, outcome).inc()
        if outcome == "ratelimited":
            self.slack_rate_limited.labels(method).inc()

    def redis_error(self, component: str) -> None:
        self.redis_errors.labels(component).inc()

    def job_failed(self, kind: str, outcome: str) -> None:
        self.job_failures.labels(kind, outcome).inc()

    def diagnostic(self, action: str, outcome: str) -> None:
        self.diagnostics.labels(action, outcome).inc()

    def remediation(self, action: str, outcome: str) -> None:
        self.remediations.labels(action, outcome).inc()

    def temporary(self, component: str, exc: BaseException) -> None:
        """Count a temporary failure as a Redis error when Redis is what failed."""
        if caused_by_redis(exc):
            self.redis_error(component)

    # --- scraping --------------------------------------------------------------------------

    def read_at_scrape(self, source: str, reader: Reader) -> None:
        """Run `reader` (it sets gauges from Redis) before each scrape, bounded in time."""
        self.readers[source] = reader

    async def refresh(self, timeout_s: float = READ_TIMEOUT_S) -> None:
        """Run every reader concurrently; one that fails or is slow only loses its figure.

        At most once per `MIN_REFRESH_S`, and concurrent scrapes share one refresh: anyone who
        can reach the port can scrape, and must not be able to turn scrapes into Redis load."""
        if not self.readers:
            return
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if time.monotonic() - self._refreshed < self.min_refresh_s:
                return
            await asyncio.gather(*(self._read(s, r, timeout_s) for s, r in self.readers.items()))
            self._refreshed = time.monotonic()

    async def _read(self, source: str, reader: Reader, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await reader(self)
        except (TimeoutError, TemporaryError) as exc:
            log.warning("metrics: could not read %s in time: %s", source, type(exc).__name__)
            self.read_ok.labels(source).set(0)
            self.redis_error("metrics")
            return
        except Exception:  # a scrape answers whatever a reader does
            log.exception("metrics: reading %s failed", source)
            self.read_ok.labels(source).set(0)
            return
        self.read_ok.labels(source).set(1)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


def caused_by_redis(exc: BaseException) -> bool:
    """Whether `exc` was raised from one of redis-py's errors (the store raises `Unavailable`
    `from` them; this module may not import redis)."""
    cause = exc.__cause__
    return cause is not None and type(cause).__module__.startswith("redis.")
