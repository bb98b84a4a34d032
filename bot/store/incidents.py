"""Incident records in Redis: the record, its timeline, the channel index, the repair flags.

Rules this module keeps:
- A change to an incident and the timeline entries it produced are written in one
  transaction (`compare_and_set`), so a reader never sees one without the other.
- An incident is created for a request exactly once (a Lua step: claim + number + record).
- A timeline entry for a pinned message, a checklist answer… is appended once per dedupe key.

It never talks to Slack and never decides what a change means: that is `bot.incident`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.errors import IncidentNotFound, UserError
from bot.incident import Change, Incident, Role, Severity, Status, TimelineEntry
from bot.store import scripts
from bot.store.calls import RedisPart, redis_unavailable, replicated, text
from bot.store.cas import Decision, compare_and_set
from bot.store.claims import CLAIM_TTL_SECONDS
from bot.store.keys import Keys

ABANDONED = "abandoned"
"""A declare's claim taken by `abandon_declare`: that request created nothing, and never will."""


class IncidentStore(RedisPart):
    """Incident persistence on Redis (asyncio)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        super().__init__(redis, keys)
        self._create = redis.register_script(scripts.CREATE_INCIDENT)
        self._append_once = redis.register_script(scripts.APPEND_ONCE)

    async def create_incident(
        self, request_key: str, template: Incident, first_entry: TimelineEntry
    ) -> tuple[Incident, bool]:
        """Create the incident for `request_key` once. Returns it and whether this call made it."""
        doc = template.model_dump(mode="json")
        doc["id"], doc["number"] = "__FIRELINE_ID__", "__FIRELINE_NUMBER__"
        # The placeholders must be the first occurrences in the document: keep id and number
        # first, which model_dump does (field order).
        payload = json.dumps(doc, ensure_ascii=False)
        try:
            result = await self._create(
                keys=[self.keys.claim("declare", request_key), self.keys.sequence],
                args=[
                    payload,
                    CLAIM_TTL_SECONDS,
                    first_entry.model_dump_json(),
                    self.keys.prefix,
                ],
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        incident_id, created = text(result[0]), bool(int(result[1]))
        if incident_id == ABANDONED:
            raise UserError(
                "That request was given up while Redis was not answering, and its sender was "
                "told so. Type the command again if it is still needed."
            )
        # The request's claim names the incident only where the script ran.
        await replicated(self.redis, (self.keys.claim("declare", request_key), incident_id))
        if not created:
            return await self.get(incident_id), False
        # What the script stored is the template with its ID and number: no second read.
        number = int(incident_id.removeprefix("INC-"))
        return template.model_copy(update={"id": incident_id, "number": number}), True

    async def abandon_declare(self, request_key: str) -> str | None:
        """Settle a declare whose answer was lost: the incident it recorded, or None once it is
        certain none was recorded. One `SET NX` on the request's claim decides it: taken here,
        the lost call (still queued in Redis, or retried) can no longer create anything; taken
        already, it holds the incident's ID."""
        key = self.keys.claim("declare", request_key)
        try:
            if await self.redis.set(key, ABANDONED, nx=True, ex=CLAIM_TTL_SECONDS):
                return None
            found = await self.redis.get(key)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        incident_id = text(found) if found else ABANDONED
        return None if incident_id == ABANDONED else incident_id

    async def get(self, incident_id: str) -> Incident:
        try:
            raw = await self.redis.get(self.keys.incident(incident_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        if raw is None:
            raise _not_found(incident_id)
        return Incident.model_validate_json(raw)

    async def find_by_channel(self, channel_id: str) -> Incident | None:
        try:
            incident_id = await self.redis.get(self.keys.channel(channel_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return await self.get(text(incident_id)) if incident_id else None

    async def list_ids(self, *, open_only: bool) -> list[str]:
        key = self.keys.open_incidents if open_only else self.keys.all_incidents
        try:
            return [text(i) for i in await self.redis.zrange(key, 0, -1)]
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def list_incidents(self, *, open_only: bool) -> list[Incident]:
        ids = await self.list_ids(open_only=open_only)
        if not ids:
            return []
        try:
            raws = await self.redis.mget([self.keys.incident(i) for i in ids])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [Incident.model_validate_json(raw) for raw in raws if raw is not None]

    async def mutate(
        self, incident_id: str, change: Callable[[Incident], Change], *, bump: bool = True
    ) -> tuple[Incident, list[TimelineEntry]]:
        """Apply `change` atomically with optimistic locking; retried when another writer won.

        `change` is pure and may run more than once. A change that returns the record unchanged
        and no entries writes nothing; one that only adds entries (a note) keeps the version,
        since nothing Slack shows changed. `bump=False` is for bookkeeping (which Slack
        artefacts exist) that readers need not re-render for.
        """
        keys = self.keys

        def decide(raw: bytes | str | None) -> Decision[tuple[Incident, list[TimelineEntry]]]:
            if raw is None:
                raise _not_found(incident_id)
            current = Incident.model_validate_json(raw)
            new, entries = change(current)
            if new == current and not entries:
                return Decision((current, []))
            if bump and new != current:
                new = new.model_copy(update={"version": current.version + 1})

            def writes(pipe: Pipeline) -> None:
                pipe.set(keys.incident(incident_id), new.model_dump_json())
                if entries:
                    pipe.rpush(keys.timeline(incident_id), *[e.model_dump_json() for e in entries])
                if new.channel_id and new.channel_id != current.channel_id:
                    pipe.set(keys.channel(new.channel_id), incident_id)
                if not new.is_open and current.is_open:
                    pipe.zrem(keys.open_incidents, incident_id)
                if new.version > current.version:
                    # Slack shows the old version until a render lands: flagged until then,
                    # so a replica that dies before rendering leaves work the repair sees.
                    pipe.sadd(keys.needs_attention, incident_id)

            return Decision((new, entries), writes)

        return await compare_and_set(
            self.redis,
            keys.incident(incident_id),
            decide,
            gave_up=f"{incident_id} kept changing while Fireline was saving; nothing was "
            "applied. Try again.",
        )

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        try:
            raws = await self.redis.lrange(self.keys.timeline(incident_id), 0, -1)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [TimelineEntry.model_validate_json(r) for r in raws]

    async def append_once(self, incident_id: str, dedupe_key: str, entry: TimelineEntry) -> bool:
        """Append `entry` unless an entry with `dedupe_key` was appended before."""
        try:
            added = await self._append_once(
                keys=[self.keys.timeline_keys(incident_id), self.keys.timeline(incident_id)],
                args=[dedupe_key, entry.model_dump_json()],
            )
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return bool(added)

    # --- incidents Slack does not yet show as Redis holds them (repaired later) -------------

    async def flag(self, incident_id: str) -> None:
        """Remember that Slack does not yet show this incident as Redis holds it."""
        try:
            await self.redis.sadd(self.keys.needs_attention, incident_id)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def flagged(self) -> list[str]:
        try:
            return sorted(text(i) for i in await self.redis.smembers(self.keys.needs_attention))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def unflag(self, incident_id: str) -> None:
        try:
            await self.redis.srem(self.keys.needs_attention, incident_id)
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def unflag_if_shown(self, incident_id: str) -> bool:
        """Unflag the incident only if Slack shows it as Redis holds it (set up and its latest
        version rendered; or closed before it was set up), checked and unflagged in one
        transaction: a change landing in between keeps the flag. True if it is unflagged."""

        def unflag(pipe: Pipeline) -> None:
            pipe.srem(self.keys.needs_attention, incident_id)

        def decide(raw: bytes | str | None) -> Decision[bool]:
            if raw is None:  # gone: nothing left to repair
                return Decision(True, unflag)
            incident = Incident.model_validate_json(raw)
            if incident.provisioned:
                shown = incident.rendered_version >= incident.version
            else:  # closed before it was set up: nothing left to show
                shown = not incident.is_open
            return Decision(True, unflag) if shown else Decision(False)

        return await compare_and_set(
            self.redis,
            self.keys.incident(incident_id),
            decide,
            gave_up=f"{incident_id} kept changing; it stays flagged for the next repair",
        )


def _not_found(incident_id: str) -> IncidentNotFound:
    return IncidentNotFound(
        f"There is no incident {incident_id}. `/incident list` shows the open ones."
    )


def new_incident(
    *,
    title: str,
    severity: Severity,
    reporter: str,
    now: datetime,
    service: str | None = None,
    description: str | None = None,
    commander: str | None = None,
    origin_channel: str | None = None,
    reporter_commands: bool = True,
    acknowledged: bool = False,
) -> Incident:
    """The template `IncidentStore.create_incident` fills the ID and number into. The
    commander is `commander`, else the reporter unless `reporter_commands` is false (the
    policy does not let them hold command: then nobody, until someone who may takes it)."""
    lead = commander or (reporter if reporter_commands else None)
    return Incident(
        id="INC-0",
        number=0,
        title=title,
        severity=severity,
        reporter=reporter,
        roles={Role.COMMANDER: lead} if lead else {},
        service=service,
        description=description,
        origin_channel=origin_channel,
        created_at=now,
        status=Status.ACKNOWLEDGED if acknowledged else Status.DECLARED,
        acknowledged_at=now if acknowledged else None,
    )
