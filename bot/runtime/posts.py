"""Posts made once: a scheduled job's message never appears twice, whatever happened to the job.

A job that posts to Slack can run again after the post went out: the call timed out after
Slack took it, the bot stopped between the post and recording it, or its lease ran out and
another replica took the job over. `Posts.once(key, …)` makes such a post idempotent by key:

1. a key whose message is recorded returns that message's ts, and nothing is sent;
2. otherwise the attempt is recorded in Redis before the call, and confirmed on a replica when
   the client waits for replicas (`replicated()`, with a witness: an attempt made only on a
   master that then died would let the post go out twice after a failover; Redis not
   confirming it means no post), and the message carries the key in its metadata
   (`SlackGateway.post_message(marker=…)`);
3. a key found with an attempt but no ts is looked up in Slack first (`find_marked`): the
   message found is adopted instead of posted again.

The outbox does the same for alert writes (with its own queue); this is the one for jobs.
Jobs started together post together: the states they read, and the attempts and `ts`s they
record, in the same turn of the loop share one round trip (`bot.store.batching`), and the
attempts one confirmation.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.gateways.slack import Blocks, SlackGateway
from bot.store.batching import Batched
from bot.store.calls import WITNESS_TTL_MS, Witness, replicated, witness
from bot.store.store import Keys, redis_unavailable

KEEP_S = 7 * 24 * 3600
LOOKBACK_S = 60
"""How far before an attempt Slack is searched for it (clock skew between us and Slack)."""


class Posts:
    def __init__(self, redis: Redis, keys: Keys, slack: SlackGateway) -> None:
        self.redis = redis
        self.keys = keys
        self.slack = slack
        self._reads: Batched[str, Any] = Batched(self._read_many)
        self._writes: Batched[tuple[str, str], Any] = Batched(self._write_many)
        self._attempts: Batched[tuple[str, str], Any] = Batched(self._write_confirmed)

    async def posted(self, key: str) -> str | None:
        """The ts of the message posted under `key`, if one is recorded."""
        state = await self._state(key)
        return str(state["ts"]) if state and state.get("ts") else None

    async def once(
        self,
        key: str,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
    ) -> str:
        """Post under `key` unless a message under it exists already; its ts either way."""
        return (await self.once_made(key, channel, text, blocks, thread_ts=thread_ts))[0]

    async def once_made(
        self,
        key: str,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
    ) -> tuple[str, bool]:
        """`once`, and whether this call made the post: False when it was there already,
        made by an earlier attempt, from what was true then."""
        state = await self._state(key)
        if state and state.get("ts"):
            return str(state["ts"]), False
        if state and state.get("channel") == channel:
            found = await self.slack.find_marked(
                channel, key, thread_ts=thread_ts, oldest=str(state["at"])
            )
            if found:
                await self._save(key, {**state, "ts": found})
                return found, False
        attempt = {"channel": channel, "at": f"{time.time() - LOOKBACK_S:.6f}"}
        await self._attempts((self.keys.posted(key), json.dumps(attempt)))
        ts = await self.slack.post_message(channel, text, blocks, thread_ts=thread_ts, marker=key)
        await self._save(key, {**attempt, "ts": ts})
        return ts, True

    async def _state(self, key: str) -> dict[str, str] | None:
        raw = await self._reads(self.keys.posted(key))
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    async def _save(self, key: str, state: dict[str, str]) -> None:
        await self._writes((self.keys.posted(key), json.dumps(state)))

    async def _read_many(self, keys: list[str]) -> list[Any]:
        try:
            return list(await self.redis.mget(keys))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def _write_many(
        self, states: list[tuple[str, str]], proof: Witness | None = None
    ) -> list[Any]:
        pipe = self.redis.pipeline(transaction=proof is not None)
        for key, value in states:
            pipe.set(key, value, ex=KEEP_S)
        if proof is not None:
            pipe.set(proof[0], proof[1], px=WITNESS_TTL_MS)
        try:
            return list(await pipe.execute())[: len(states)]
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    async def _write_confirmed(self, states: list[tuple[str, str]]) -> list[Any]:
        """Attempts, each job's before its post: on the replicas the client waits for, or
        `Unavailable` for every job of the batch, and none of them posts."""
        proof = witness(self.redis)
        done = await self._write_many(states, proof)
        await replicated(self.redis, proof)
        return done
