"""Running an action: guard, policy, rate limit, bounded execution, audit, timeline, delivery.

`DiagnosticsService.run()` is the one path every action takes, from a slash command or a
playbook: the action's guard names what it will touch, the policy allows or denies it (the
denial names what is missing), the person's rate limit is taken, the action runs under a
timeout, and the run is recorded in the audit stream always and on the incident's timeline when
it ran for an incident. `command()` adapts it to the Reply model: parsing (and finding the
channel's incident in Redis) happens before the ack; the run and the Slack posts after it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot import messages as shared
from bot.actions.base import Action, Context, close_matches
from bot.actions.output import MAX_BLOCKS, Result, fit
from bot.blockkit import context
from bot.clock import Clock
from bot.diagnostics import messages
from bot.diagnostics.actions.diagnose import Diagnosis
from bot.diagnostics.views import offer_blocks
from bot.errors import Denied, FirelineError, RateLimited, SlackRejected, UsageError, UserError
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.gateways.slack import Send, SlackGateway
from bot.incident import Incident, TimelineEntry
from bot.interaction import Actor, Reply
from bot.metrics import Metrics
from bot.policy.authorizer import Authorizer
from bot.store.store import Store

log = logging.getLogger(__name__)
REFUSED = frozenset({"denied", "rate-limited", "rejected"})
"""Runs that did not happen (the policy, the rate limit, a mistyped argument): audited, never
put on the incident's timeline (docs/decisions/authority.md)."""
PART_SHARE = 0.75


@dataclass
class Gateways:
    """How actions reach the outside world; each built once by the composition root."""

    kube: Callable[[str], KubeGateway]
    prometheus: PrometheusGateway | None
    health: HealthChecker
    databases: DatabaseGateway


@dataclass
class Run:
    action: str
    user: str
    target: str
    outcome: str  # ok, partial, denied, rejected, rate-limited, timeout, failed, error
    duration_ms: int
    result: Result | None = None
    message: str | None = None  # what the person is told when there is no result
    findings: Any = None
    """What the action found, before rendering (a `Diagnosis` for `diagnose`)."""
    incident: str | None = None


class DiagnosticsService:
    def __init__(
        self,
        actions: tuple[Action[Any, Any], ...],
        authorizer: Authorizer,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        gateways: Gateways,
        *,
        timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.actions = {a.name: a for a in actions}
        self.metrics = metrics or Metrics()
        self.authorizer = authorizer
        self.store = store
        self.slack = slack
        self.clock = clock
        self.gateways = gateways
        self.timeout_s = timeout_s

    def context(self, user: str, incident: Incident | None) -> Context:
        return Context(
            user=user,
            policy=self.authorizer.policy,
            clock=self.clock,
            kube=self.gateways.kube,
            prometheus=self.gateways.prometheus,
            health=self.gateways.health,
            databases=self.gateways.databases,
            incident_started=incident.created_at if incident else None,
            # Parts give up first, so a composite action still has time to report the rest.
            part_timeout_s=self.timeout_s * PART_SHARE,
        )

    async def run(
        self,
        action: Action[Any, Any],
        params: Any,
        *,
        user: str,
        incident: Incident | None,
        per_minute: int | None = None,
    ) -> Run:
        """`per_minute`: this run's rate limit instead of the policy's per-person one."""
        started = time.perf_counter()
        ctx = self.context(user, incident)
        first = next(iter(type(params).positional), "")
        target = getattr(params, first, "") if first else ""
        run = Run(action.name, user, str(target or "-"), "failed", 0)
        run.incident = incident.id if incident else None
        try:
            scopes = action.scopes(params, ctx)
            run.target = ", ".join(s.describe() for s in scopes) or run.target
            roles = await self.authorizer.check(user, action.name, scopes)
            ctx.permitted = self.authorizer.permitted(roles, self.actions)
            ctx.reaches = partial(self.authorizer.reaches, roles)
            limit = per_minute or self.authorizer.policy.rate_limit.per_minute
            wait = await self.store.take_rate(user, limit, int(time.time() * 1000))
            if wait:
                raise RateLimited(messages.rate_limited(limit, wait), retry_after=wait)
            async with asyncio.timeout(self.timeout_s):
                findings = await action.execute(params, ctx, scopes)
            run.findings = findings
            run.result = action.render(params, findings, ctx)
            run.outcome = run.result.outcome
        except Denied as exc:
            run.outcome, run.message = "denied", str(exc)
        except RateLimited as exc:
            run.outcome, run.message = "rate-limited", str(exc)
        except UserError as exc:
            run.outcome, run.message = "rejected", str(exc)
        except TimeoutError:
            run.outcome = "timeout"
            run.message = shared.action_failed(
                action.name, messages.action_timed_out(action.name, self.timeout_s)
            )
        except FirelineError as exc:
            run.outcome, run.message = "failed", shared.action_failed(action.name, str(exc))
        except Exception:
            # A bug (an API shape we did not expect): still audited, still answered.
            log.exception("%s failed unexpectedly for %s", action.name, user)
            run.outcome = "error"
            run.message = shared.action_failed(action.name, messages.internal_error())
        run.duration_ms = round((time.perf_counter() - started) * 1000)
        self.metrics.diagnostic(action.name, run.outcome)
        await self._record(run, incident)
        return run

    async def run_named(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        user: str,
        incident: Incident | None,
        per_minute: int | None = None,
    ) -> Run:
        """Run an action by name with parameters from data (a playbook step)."""
        action = self.actions.get(name)
        if action is None:
            known = sorted(self.actions)
            close = close_matches(name, known)
            raise UsageError(shared.no_such_named("action", name, known, close))
        params = action.build(dict(values))
        return await self.run(action, params, user=user, incident=incident, per_minute=per_minute)

    async def post(
        self,
        run: Run,
        channel: str,
        *,
        thread_ts: str | None = None,
        lead: str | None = None,
        send: Send | None = None,
        offers: bool = True,
    ) -> str:
        """Post a run's result (files in its thread), `lead` as a first line; returns its ts.

        `send` posts the message (default: straight to Slack). `offers`: a diagnosis's
        remediation buttons (a playbook shows its own, once, in its guidance). Raises
        `SlackRejected` when the channel refuses it (Fireline is not a member)."""
        assert run.result is not None
        fitted = fit(run.result, _slug(run.action, run.target))
        body = fitted.blocks
        if offers and isinstance(run.findings, Diagnosis):
            extra = offer_blocks(run.findings.offers, run.incident)
            if len(body) + len(extra) <= MAX_BLOCKS - 1:
                body = [*body, *extra]
        if lead and len(body) < MAX_BLOCKS:
            body = [context(lead), *body]
        send = send or self.slack.post_message
        ts = await send(channel, fitted.text, body, thread_ts=thread_ts)
        for file in fitted.files:
            await self.slack.upload_file(
                channel, file.filename, file.content, file.title, "", thread_ts=thread_ts or ts
            )
        return ts

    async def _record(self, run: Run, incident: Incident | None) -> None:
        headline = run.result.headline[0] if run.result and run.result.headline else ""
        record = {
            "at": self.clock.now().isoformat(),
            "user": run.user,
            "action": run.action,
            "target": run.target,
            "outcome": run.outcome,
            "duration_ms": str(run.duration_ms),
            "incident": incident.id if incident else "",
            "detail": (run.message or headline)[:500],
        }
        try:
            await self.store.audit(record)
            if incident is not None and run.outcome not in REFUSED:
                entry = TimelineEntry(
                    at=self.clock.now(),
                    actor=run.user,
                    kind="diagnostic",
                    text=messages.timeline_action(
                        run.user, run.action, run.target, run.outcome, headline
                    ),
                )
                await self.store.append_once(incident.id, f"run:{secrets.token_hex(8)}", entry)
        except FirelineError:
            # The person still gets their answer; the gap is in the log for the operator.
            log.exception("could not record %s by %s in the audit log", run.action, run.user)

    # --- the slash command -------------------------------------------------------------------

    async def command(self, name: str, text: str, actor: Actor) -> Reply:
        """Before the ack: parse, find the channel's incident. After: run and post."""
        action = self.actions[name]
        params = action.parse(text)
        incident = await self.store.find_by_channel(actor.channel)
        what = " ".join(text.split())
        return Reply(
            text=messages.running(name, what),
            later=partial(self._run_and_post, action, params, actor, incident),
        )

    async def _run_and_post(
        self, action: Action[Any, Any], params: Any, actor: Actor, incident: Incident | None
    ) -> str | None:
        run = await self.run(action, params, user=actor.user, incident=incident)
        if run.result is None:
            return run.message
        try:
            await self.post(run, actor.channel)
        except SlackRejected as exc:
            # Not a member of this channel (a DM, a private channel): show it to the person.
            fitted = fit(run.result, _slug(action.name, run.target))
            await self.slack.post_ephemeral(actor.channel, actor.user, fitted.text, fitted.blocks)
            return messages.posted_here_only(exc.code) if fitted.files else None
        return None


def _slug(action: str, target: str) -> str:
    """A file name's stem: the action, then the target unless it begins with the action's name
    already (`events in sandbox/orion-prod` made `events-events-in-…`)."""
    named = target if target.split(" ", 1)[0] == action else f"{action}-{target}"
    return re.sub(r"[^a-z0-9-]+", "-", named.lower()).strip("-")[:60]
