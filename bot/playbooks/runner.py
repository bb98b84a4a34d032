"""Running a playbook: its diagnostics through the one diagnostics path, then its guidance.

`run()` fills each diagnostic's parameters from labels (an alert's, or those a typed command
stands for: `target` → the playbook's `target_label`, `-n` → `namespace`), runs them at the same
time through `DiagnosticsService.run_named` (so the policy, the rate limit and the audit apply to
whoever the run is for), posts each result in order in a thread, and ends with the guidance and
the remediation buttons. What could not be shown (a denial, a label the alert lacks) is returned
so the caller can tell the right person.

The run starts from the diagnosis of its deployment (`diagnose`, run beside the steps under the
same person's policy, or the playbook's own `diagnose` step): its first line is the thread's
first line — on an alert's first firing too — and the remediations the guidance offers are
only those whose preconditions the diagnosis shows to hold (bot/diagnostics/remedies.py), each
with the reason; the others are named with why not.

`command()` is `/incident playbook [name] [target] [-n ns]`: parsed, and the channel's incident
found, before the ack; the rest after it.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bot import messages as shared
from bot.blockkit import escape
from bot.diagnostics.actions.diagnose import Diagnosis
from bot.diagnostics.remedies import check
from bot.diagnostics.service import DiagnosticsService, Run
from bot.errors import SlackRejected, UsageError, UserError
from bot.gateways.slack import SlackGateway
from bot.incident import Incident
from bot.interaction import Actor, Reply
from bot.playbooks import messages
from bot.playbooks import views as playbook_blocks
from bot.playbooks.loader import fields_of
from bot.playbooks.models import Playbook, Playbooks, Step
from bot.playbooks.templates import MissingLabels, fill
from bot.playbooks.views import FilledOffer
from bot.remediation.actions.base import AnyRemediation
from bot.runtime.posts import Posts
from bot.store.store import Store

FLAGS = {"-n": "namespace", "--namespace": "namespace"}
DIAGNOSE = "diagnose"
TARGETS = ("deployment",)
"""The parameter of a step or an offer that names the deployment the run is about."""


@dataclass
class Outcome:
    """What a run showed, and what it could not (one line each, for the person or the thread)."""

    shown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class PlaybookRunner:
    def __init__(
        self,
        playbooks: Playbooks,
        diagnostics: DiagnosticsService,
        store: Store,
        slack: SlackGateway,
        *,
        remediations: Iterable[AnyRemediation],
    ) -> None:
        self.playbooks = playbooks
        self.diagnostics = diagnostics
        self.remediations = {r.name: r for r in remediations}
        """What guidance may offer as buttons (the app's own remediations)."""
        self.store = store
        self.slack = slack
        self.posts = Posts(store.redis, store.keys, slack)

    # --- filling parameters ------------------------------------------------------------------

    def _fill(
        self, params: dict[str, Any], required: set[str], labels: dict[str, str], action: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        filled: dict[str, Any] = {}
        for key, value in params.items():
            try:
                filled[key] = fill(value, labels)
            except MissingLabels as exc:
                if key in required:
                    return None, messages.playbook_step_needs(action, key, exc.labels)
                # Optional (a namespace): left out, so the action's default applies.
        return filled, None

    def step_params(
        self, step: Step, labels: dict[str, str]
    ) -> tuple[dict[str, Any] | None, str | None]:
        model = self.diagnostics.actions[step.action].Params
        required = {k for k, f in model.model_fields.items() if f.is_required()}
        return self._fill(dict(step.params), required, labels, step.action)

    def offers(
        self,
        playbook: Playbook,
        labels: dict[str, str],
        diagnosis: Diagnosis | None = None,
        why_not: str = "",
    ) -> tuple[list[FilledOffer], list[str]]:
        """The remediations whose parameters the labels fill and whose preconditions the
        diagnosis shows to hold, each with its reason; and, one line each, those left out and
        why (none for one this app was built without, or whose labels are missing)."""
        out, left_out = [], []
        policy = self.diagnostics.authorizer.policy
        for offer in playbook.remediations:
            remediation = self.remediations.get(offer.action)
            if remediation is None:
                continue
            required = set(fields_of(remediation.Params)[0])
            params, _ = self._fill(dict(offer.params), required, labels, offer.action)
            if params is None:
                continue
            text = remediation.button(params)
            if diagnosis is None or not _about(params, diagnosis):
                left_out.append(messages.offer_not_checked(text, why_not))
                continue
            verdict = check(
                offer.action, params, diagnosis.evidence, policy, cluster=diagnosis.cluster
            )
            if verdict.offered:
                out.append(FilledOffer(offer, params, text, verdict.reason, verdict.seen))
            else:
                left_out.append(messages.offer_left_out(text, verdict.reason))
        return out, left_out

    def deployment(self, playbook: Playbook, labels: dict[str, str]) -> dict[str, Any] | None:
        """What the run is about — `diagnose`'s parameters (deployment, namespace) — from the
        playbook's own `diagnose` step, else from the first step or offer that names a
        deployment, else from the target label."""
        candidates = [dict(s.params) for s in playbook.diagnostics if s.action == DIAGNOSE]
        candidates += [dict(s.params) for s in playbook.diagnostics]
        candidates += [dict(o.params) for o in playbook.remediations]
        for params in candidates:
            for name in TARGETS:
                if name not in params:
                    continue
                filled, _ = self._fill(
                    {"deployment": params[name], "namespace": params.get("namespace", "")},
                    {"deployment"},
                    labels,
                    DIAGNOSE,
                )
                if filled is not None:
                    return {k: v for k, v in filled.items() if v not in ("", None)}
        target = labels.get(playbook.target_label)
        if target:
            found = {"deployment": target, "namespace": labels.get("namespace")}
            return {k: v for k, v in found.items() if v}
        return None

    # --- running -----------------------------------------------------------------------------

    async def run(
        self,
        playbook: Playbook,
        labels: dict[str, str],
        *,
        user: str,
        channel: str,
        thread_ts: str,
        incident: Incident | None,
        per_minute: int | None = None,
        tell: str | None = None,
        once: str | None = None,
        intro: str | None = None,
    ) -> Outcome:
        """The diagnosis's first line, then the diagnostics (concurrently, posted in order),
        then the guidance, in the thread.

        `tell`: the person the problems are sent to (the thread then only counts them); None
        (alert-triggered runs) puts them in the thread. `once`: a key for a run that may be
        repeated (a scheduled job): each message is posted once under it (`bot.posts`), and a
        step whose result is already in the thread is neither run nor posted again. (A stop
        between a result and its file attachment leaves that file out.) `intro`: a line said
        under the diagnosis's first line (who the run is for)."""
        outcome = Outcome()
        if once and await self.posts.posted(f"{once}:guidance"):
            return outcome  # the run was complete
        prepared = []
        for number, step in enumerate(playbook.diagnostics):
            key = f"{once}:step:{number}" if once else None
            if key and await self.posts.posted(key):
                outcome.shown.append(step.action)
                continue
            prepared.append((step, key, *self.step_params(step, labels)))

        async def one(step: Step, params: dict[str, Any]) -> Run:
            try:
                return await self.diagnostics.run_named(
                    step.action, params, user=user, incident=incident, per_minute=per_minute
                )
            except UserError as exc:  # the parameters filled from labels did not fit
                return Run(step.action, user, "-", "rejected", 0, message=str(exc))

        about = self.deployment(playbook, labels)
        ran = [entry for entry in prepared if entry[2] is not None]
        own = next(
            (
                i
                for i, (step, _, params, _) in enumerate(ran)
                if step.action == DIAGNOSE
                and about is not None
                and (params or {}).get("deployment") == about.get("deployment")
            ),
            None,
        )

        async def diagnosis_run() -> Run | None:
            if about is None or own is not None:
                return None
            # Not asked for by the person: not tried (nor audited as refused) when their roles
            # do not allow it; the offers then say they could not be checked.
            authorizer = self.diagnostics.authorizer
            roles = await authorizer.roles_of(user)
            if DIAGNOSE not in authorizer.permitted(roles, self.diagnostics.actions):
                return Run(DIAGNOSE, user, "-", "denied", 0)
            try:
                return await self.diagnostics.run_named(
                    DIAGNOSE, about, user=user, incident=incident, per_minute=per_minute
                )
            except UserError as exc:
                return Run(DIAGNOSE, user, "-", "rejected", 0, message=str(exc))

        extra, done = await asyncio.gather(
            diagnosis_run(),
            asyncio.gather(*(one(step, params or {}) for step, _, params, _ in ran)),
        )
        diagnosed = done[own] if own is not None else extra
        diagnosis = diagnosed.findings if diagnosed is not None else None
        if not isinstance(diagnosis, Diagnosis):
            diagnosis = None
        await self._lead(diagnosis, channel, thread_ts, once, intro)
        runs = iter(done)
        for step, key, params, note in prepared:
            if params is None:
                outcome.problems.append(note or step.action)
                continue
            run = next(runs)
            if run.result is None:
                outcome.problems.append(
                    messages.playbook_step_failed(step.action, run.message or run.outcome)
                )
                continue
            send = partial(self.posts.once, key) if key else None
            await self.diagnostics.post(
                run,
                channel,
                thread_ts=thread_ts,
                lead=f"🔎 {escape(step.why)}",
                send=send,
                offers=False,
            )
            outcome.shown.append(step.action)
        if tell and outcome.problems:
            notes = [messages.playbook_left_out(len(outcome.problems), tell)]
        else:
            notes = [f"⚠️ {p}" for p in outcome.problems]
        why_not = _why_no_diagnosis(about, diagnosed)
        offered, left_out = self.offers(playbook, labels, diagnosis, why_not)
        text, body = playbook_blocks.guidance(
            playbook,
            offered,
            incident=incident.id if incident else None,
            notes=notes,
            left_out=left_out,
        )
        if once:
            await self.posts.once(f"{once}:guidance", channel, text, body, thread_ts=thread_ts)
        else:
            await self.slack.post_message(channel, text, body, thread_ts=thread_ts)
        return outcome

    async def _lead(
        self,
        diagnosis: Diagnosis | None,
        channel: str,
        thread_ts: str,
        once: str | None,
        intro: str | None,
    ) -> None:
        """The thread's first line: what the diagnosis names (and `intro` under it)."""
        if diagnosis is None and intro is None:
            return
        text, body = playbook_blocks.lead(diagnosis.first_line if diagnosis else None, intro)
        if once:
            await self.posts.once(f"{once}:started", channel, text, body, thread_ts=thread_ts)
        else:
            await self.slack.post_message(channel, text, body, thread_ts=thread_ts)

    # --- /incident playbook ----------------------------------------------------------------

    def find(self, name: str) -> Playbook:
        playbook = self.playbooks.get(name.lower())
        if playbook is None:
            raise UsageError(messages.no_such_playbook(name, self.playbooks.close_matches(name)))
        return playbook

    def parse(self, text: str) -> tuple[Playbook | None, dict[str, str]]:
        """`[name] [target] [-n ns]` → the playbook and the labels it stands for."""
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise UsageError(shared.bad_quoting(str(exc), messages.PLAYBOOK_USAGE)) from None
        if not words:
            return None, {}
        playbook = self.find(words[0])
        labels: dict[str, str] = {}
        positional: list[str] = []
        rest = iter(words[1:])
        for word in rest:
            if word.startswith("-"):
                key = FLAGS.get(word)
                value = next(rest, None)
                if key is None:
                    raise UsageError(shared.unknown_flag(word, messages.PLAYBOOK_USAGE))
                if value is None:
                    raise UsageError(shared.flag_needs_value(word, messages.PLAYBOOK_USAGE))
                labels[key] = value
            else:
                positional.append(word)
        if len(positional) > 1:
            raise UsageError(
                shared.unexpected_arguments(messages.PLAYBOOK_USAGE, " ".join(positional[1:]))
            )
        if positional:
            labels[playbook.target_label] = positional[0]
        return playbook, labels

    async def command(self, text: str, actor: Actor) -> Reply:
        playbook, labels = self.parse(text)
        if playbook is None:
            return Reply(text=playbook_blocks.listing(self.playbooks))
        if not await self.store.claim("trigger", actor.trigger_id, ttl=3600):
            return Reply(text=shared.delivered_twice())
        incident = await self.store.find_by_channel(actor.channel)
        where = playbook_blocks.where(labels, playbook.target_label)
        return Reply(
            text=messages.playbook_running(playbook.title, where),
            later=partial(self._typed, playbook, labels, actor, incident),
        )

    async def _typed(
        self, playbook: Playbook, labels: dict[str, str], actor: Actor, incident: Incident | None
    ) -> str | None:
        text, body = playbook_blocks.header(playbook, labels, actor.user)
        try:
            ts = await self.slack.post_message(actor.channel, text, body)
        except SlackRejected as exc:
            return messages.playbook_cannot_post(exc.code)
        outcome = await self.run(
            playbook,
            labels,
            user=actor.user,
            channel=actor.channel,
            thread_ts=ts,
            incident=incident,
            tell=actor.user,
        )
        if outcome.problems:
            return shared.playbook_problems(len(outcome.problems), outcome.problems)
        return None


def _about(params: dict[str, Any], diagnosis: Diagnosis) -> bool:
    """Whether an offer's parameters are about the deployment that was diagnosed."""
    evidence = diagnosis.evidence
    if params.get("namespace") not in (None, evidence.namespace):
        return False
    if "deployment" in params:
        return bool(params["deployment"] == evidence.deployment)
    return "pod" in params


def _why_no_diagnosis(about: dict[str, Any] | None, run: Run | None) -> str:
    if about is None:
        return messages.no_deployment_to_diagnose()
    if run is None:
        return ""
    if run.result is None:
        return messages.diagnosis_not_run(run.outcome)
    return ""
