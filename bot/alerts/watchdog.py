"""A dead-man's switch for the alert pipeline.

Alertmanager can be told to fire an alert all the time (kube-prometheus ships it as `Watchdog`)
and send it to Fireline every `repeat_interval`. Its arrival proves the whole pipeline works:
Prometheus evaluates, Alertmanager routes, the webhook reaches Fireline. When it has not
arrived for the policy's `alerts.heartbeat.every`, Fireline says so in the alerts channel,
once; when it arrives again, it says that, once. Heartbeat notifications are the watchdog's:
they are not shown as alert threads.

Built on the durable scheduler, so replicas and restarts neither double nor lose it:

- A beat records its time and moves the one check job (a fixed ID: scheduling is an upsert) to
  `beat + every`. A beat that finds the mark left by an outage schedules the "back" job under a
  claim made from the missed deadline (claim and job in one step), and only then clears the
  mark: a beat handled again after a failure in between (Redis away, the replica killed) still
  finds the mark, and beats on two replicas at once schedule one job between them.
- The check job, when it runs, decides in one Lua step whether the last beat is older than
  `every`; the first run that finds it so marks the outage (its missed deadline). The message
  is posted under a key made from that deadline (`bot.runtime.posts`), so a job run again
  after a crash or on another replica finds it posted and posts nothing.
- At start-up a missing check job is scheduled from the last beat (or from now, the first
  time), so a pipeline that never sends anything is noticed too.

It must never show a heartbeat as an alert, and never say "missing" twice for one outage.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.alerts import messages
from bot.alerts.payload import Notification
from bot.blockkit import human_duration
from bot.clock import Clock
from bot.metrics import Metrics
from bot.policy.alerts import HeartbeatPolicy
from bot.runtime.posts import Posts
from bot.runtime.scheduler import Job, Scheduler
from bot.store.store import Keys, redis_unavailable

log = logging.getLogger(__name__)

CHECK = "alert-heartbeat"
BACK = "alert-heartbeat-back"
CHECK_ID = "alert-heartbeat"
BACK_CLAIM_TTL_S = 7 * 24 * 3600
"""How long the claim on an outage's "back" job is kept: far longer than a notification can
wait in the inbox to be handled again."""

# KEYS: state. ARGV: now (s). Records the beat; returns the missed deadline still marked, or ''.
_BEAT = """
redis.call('HSET', KEYS[1], 'last', ARGV[1])
return redis.call('HGET', KEYS[1], 'missing') or ''
"""

# KEYS: state. ARGV: the missed deadline whose "back" job is scheduled. Clears its mark (not
# the mark of a later outage).
_ENDED = """
if redis.call('HGET', KEYS[1], 'missing') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'missing')
end
return 1
"""

# KEYS: state. ARGV: now (s), every (s). {'ok', deadline} while beats are on time, else
# {'missing', the missed deadline} (marked by the first check that finds it so).
_CHECK = """
local now = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if last == nil then
  redis.call('HSET', KEYS[1], 'last', ARGV[1])
  last = now
end
local deadline = last + tonumber(ARGV[2])
if now < deadline then return {'ok', tostring(deadline)} end
local missing = redis.call('HGET', KEYS[1], 'missing')
if not missing then
  missing = tostring(deadline)
  redis.call('HSET', KEYS[1], 'missing', missing)
end
return {'missing', missing}
"""


class Watchdog:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        scheduler: Scheduler,
        posts: Posts,
        clock: Clock,
        policy: HeartbeatPolicy,
        *,
        channel: str,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.key = keys.alert_heartbeat
        self.scheduler = scheduler
        self.posts = posts
        self.clock = clock
        self.policy = policy
        self.channel = channel
        self.every = int(policy.every.total_seconds())
        self._beat = redis.register_script(_BEAT)
        self._ended = redis.register_script(_ENDED)
        self._check = redis.register_script(_CHECK)
        scheduler.register(CHECK, self._run_check)
        scheduler.register(BACK, self._run_back)

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # --- what the alert worker hands over (`bot.alerts.service.Beats`) ---------------------

    def is_beat(self, notification: Notification) -> bool:
        """A notification made only of the heartbeat alert (firing or resolved)."""
        name = self.policy.alertname
        return bool(notification.alerts) and all(
            a.labels.get("alertname") == name for a in notification.alerts
        )

    async def beat(self, notification: Notification) -> None:
        """The heartbeat arrived (a resolved one says Alertmanager stopped firing it: no beat)."""
        if not any(a.status == "firing" for a in notification.alerts):
            log.warning("the heartbeat alert %s was resolved", self.policy.alertname)
            return
        now = self._now()
        try:
            marked = await self._beat(keys=[self.key], args=[now])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        await self.scheduler.schedule(Job(id=CHECK_ID, kind=CHECK, due=now + self.every))
        if not marked:
            return
        missed = marked.decode() if isinstance(marked, bytes) else str(marked)
        job = Job(id=f"{BACK}:{missed}", kind=BACK, due=now, data={"missed": missed})
        claim = self.keys.claim(BACK, missed)
        await self.scheduler.schedule(job, once=(claim, BACK_CLAIM_TTL_S))
        try:
            await self._ended(keys=[self.key], args=[missed])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc

    # --- start-up --------------------------------------------------------------------------

    async def start(self) -> None:
        """Make sure a check is scheduled (unless an outage is open: the next beat ends it)."""
        try:
            state = await self.redis.hgetall(self.key)
            if b"missing" in state or "missing" in state:
                return
            await self.redis.hsetnx(self.key, "last", self._now())
            last = int(float(await self.redis.hget(self.key, "last") or self._now()))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        if await self.scheduler.queue.get(CHECK_ID) is None:
            await self.scheduler.schedule(Job(id=CHECK_ID, kind=CHECK, due=last + self.every))

    # --- the jobs --------------------------------------------------------------------------

    async def _run_check(self, job: Job, late_by: float) -> None:
        now = self._now()
        try:
            verdict, when = await self._check(keys=[self.key], args=[now, self.every])
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        deadline = int(float(when.decode() if isinstance(when, bytes) else when))
        if verdict == "ok":
            await self.scheduler.schedule(Job(id=CHECK_ID, kind=CHECK, due=deadline))
            return
        silent_for = human_duration(now - (deadline - self.every))
        log.error("the heartbeat alert %s stopped arriving", self.policy.alertname)
        text = messages.heartbeat_missing(self.policy.alertname, silent_for)
        await self.posts.once(f"heartbeat:missing:{deadline}", self.channel, text)

    async def _run_back(self, job: Job, late_by: float) -> None:
        missed = int(float(job.data["missed"]))
        silent_for = human_duration(max(0, self._now() - (missed - self.every)))
        log.warning("the heartbeat alert %s arrives again", self.policy.alertname)
        text = messages.heartbeat_back(self.policy.alertname, silent_for)
        await self.posts.once(f"heartbeat:back:{missed}", self.channel, text)

    # --- /metrics --------------------------------------------------------------------------

    async def report(self, metrics: Metrics) -> None:
        """Set the heartbeat gauge (a scrape's reader): Redis failing is `Unavailable`, which
        the scrape counts as a Redis error."""
        try:
            missing = await self.redis.hexists(self.key, "missing")
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        metrics.alert_heartbeat_missing.set(1 if missing else 0)
