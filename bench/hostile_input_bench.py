"""`/healthz` latency while the bot processes hostile input (issue 13, findings 4 and 5).

    python -m bench.hostile_input_bench [--seconds 10]
    python -m bench.hostile_input_bench --smoke      # a few seconds; non-zero exit when broken

The bot as the tests run it: `create_app` with the Slack double over real HTTP (signed slash
commands), real Redis (127.0.0.1:6379/15, a unique key prefix, removed afterwards), and the
Kubernetes double in its own process, as an API server is. Its `task-service` pods log a
60 KB `a.a.a…` line (finding 5's shape; 16 KB of it took 17 s in the old redaction) and an
error line carrying secrets; a `hostile` pod logs one 1 MB line built to match a redaction rule
every 11 bytes (`password=x,…`, the costliest of tests/runtime/adversarial.py). For comparison,
`calm` pods log the same volume of ordinary lines and a `calm-big` pod one 1 MB ordinary line.
Another process samples `GET /healthz` back to back over one keep-alive connection, with its
own clock.

Phases, `--seconds` each, the work repeated back to back (the bot busy all the time):
- idle: the bot has nothing to do.
- ordinary grep: `/incident logs calm --grep 'status=5'`, typed through the Slack double and
  answered before the next.
- hostile grep: `/incident logs task-service --grep '(.*)*!'` (finding 4), likewise; every
  answer is checked ("No lines match", nothing secret).
- ordinary 1 MB line: the logs action on `calm-big` with the 1 MiB read a playbook may ask for.
- hostile 1 MB line: the same on `hostile`; every result is checked (no secret, every value
  redacted).
Before the phases, redaction of each 1 MB input of tests/runtime/adversarial.py is timed alone.

Target: `/healthz` within its normal latency throughout: while hostile input is processed, p99
no higher than while the same volume of ordinary input is (5 ms of slack: one GIL switch
interval), and no stall. `--smoke` fails on a wrong answer, a failed `/healthz`, or a stall
(max ≥ 500 ms: a frozen loop, as the old code gave: 100 % CPU and no answer at all).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from redis.asyncio import Redis

from bot.app import Deps, Fireline, create_app
from bot.policy.models import Cluster, Policy, RateLimit, RoleGrant
from bot.runtime.redaction import redact
from bot.sandbox.doubles.kubernetes import Cluster as KubeCluster
from bot.sandbox.doubles.kubernetes import (
    KubernetesDouble,
    add_deployment,
    add_logs,
    api_client,
    deployment_pods,
    orion_prod,
)
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.server import RedisHandle
from tests.harness import SIGNING_SECRET, settings_for
from tests.runtime.adversarial import CASES, fill

NS = "orion-prod"
REDIS_URL = os.environ.get("FIRELINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WORST_GREP = "(.*)*!"
ONE_MB_LINE = fill("password=x,", (1 << 20) - 40) + " ERROR failed AKIAIOSFODNN7EXAMPLE"
HOSTILE_LINES = [
    "a." * 30_000,
    "ERROR upstream 500 password=hunter2 key=AKIAIOSFODNN7EXAMPLE",
]
SECRETS = ("hunter2", "AKIAIOSFODNN7EXAMPLE")
ORDINARY = "INFO request id={} ok path=/api/orders status=200 duration=35ms user=bob region=eu-1"
CALM_LINES = [ORDINARY.format(1000 + i) for i in range(700)]  # ~60 KB, as a hostile pod's
CALM_BIG_LINE = fill("request handled in time without trouble ", (1 << 20) - 40)
STALL_MS = 500.0


# --- the Kubernetes double, in its own process ----------------------------------------------


def serve_kubernetes(urls: Queue[str], stop: Event) -> None:
    cluster = KubeCluster()
    orion_prod(cluster)
    for pod in deployment_pods(cluster, NS, "task-service"):
        add_logs(cluster, NS, pod["metadata"]["name"], HOSTILE_LINES)
    add_deployment(cluster, NS, "hostile", replicas=1, image="registry.example/hostile:1")
    for pod in deployment_pods(cluster, NS, "hostile"):
        add_logs(cluster, NS, pod["metadata"]["name"], [ONE_MB_LINE])
    add_deployment(cluster, NS, "calm", replicas=3, image="registry.example/calm:1")
    for pod in deployment_pods(cluster, NS, "calm"):
        add_logs(cluster, NS, pod["metadata"]["name"], CALM_LINES)
    add_deployment(cluster, NS, "calm-big", replicas=1, image="registry.example/calm:1")
    for pod in deployment_pods(cluster, NS, "calm-big"):
        add_logs(cluster, NS, pod["metadata"]["name"], [CALM_BIG_LINE])
    with KubernetesDouble(cluster) as double:
        urls.put(double.base_url)
        stop.wait()


# --- the /healthz sampler, in its own process -----------------------------------------------


def sample_healthz(port: int, stop: Event, results: Queue[list[tuple[float, float, bool]]]) -> None:
    """(monotonic time sent, latency ms, ok) for back-to-back GETs until `stop`."""
    samples: list[tuple[float, float, bool]] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        sent = time.monotonic()
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            ok = response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        except (OSError, http.client.HTTPException, ValueError):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        samples.append((sent, (time.monotonic() - sent) * 1000, ok))
        time.sleep(0.002)
    connection.close()
    results.put(samples)


# --- the bot --------------------------------------------------------------------------------


def policy_for(oncall: str) -> Policy:
    reads = ("pods", "describe", "events", "logs", "diagnose")
    return Policy(
        roles={
            "viewer": RoleGrant(actions=("pods",)),
            "responder": RoleGrant(users=(oncall,), actions=reads, namespaces=("orion-*",)),
            "commander": RoleGrant(actions=reads),
            "admin": RoleGrant(actions=("*",)),
        },
        clusters={"test": Cluster(context="test", namespaces=("orion-*",), default_namespace=NS)},
        rate_limit=RateLimit(per_minute=100_000),
    )


def flat(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + str(message.get("text"))


class Bot:
    """Drives the running bot. Each kind of work types in a room of its own, and its answers are
    read back once, at the end of the phase: the Slack double copies a channel's whole history
    on every read, which would otherwise grow into the bot's event loop as the phase goes on."""

    def __init__(self, slack: SlackDouble, app: Fireline, oncall: str) -> None:
        self.slack, self.app, self.oncall = slack, app, oncall
        self.rooms: dict[str, tuple[str, int]] = {}  # kind → (channel, commands typed)

    async def grep(self, kind: str, target: str, pattern: str) -> str | None:
        """One `/incident logs TARGET --grep PATTERN`, answered; what is wrong, or None."""
        if kind not in self.rooms:
            self.rooms[kind] = (self.slack.add_channel(kind, members=[self.oncall]), 0)
        room, typed = self.rooms[kind]
        await self.slack.slash_command(self.oncall, room, f"logs {target} --grep '{pattern}'")
        self.rooms[kind] = (room, typed + 1)
        if not await self.app.drain(60.0):
            return "the command did not finish within 60 s"
        return None

    def answers(self, kind: str, expected: str) -> list[str]:
        """What is wrong with the answers posted for `kind`'s commands."""
        room, typed = self.rooms[kind]
        posted = [flat(m) for m in self.slack.messages(room) if "Logs of" in flat(m)]
        problems = [] if len(posted) == typed else [f"{kind}: {len(posted)} answers to {typed}"]
        problems += [f"{kind}: unexpected answer {text[:200]!r}" for text in posted
                     if expected not in text or any(s in text for s in SECRETS)]  # fmt: skip
        return problems

    async def hostile_grep(self) -> str | None:
        return await self.grep("hostile-grep", "task-service", WORST_GREP)

    async def ordinary_grep(self) -> str | None:
        return await self.grep("ordinary-grep", "calm", "status=5")

    async def read_1_mb(self, target: str) -> str | None:
        """The logs action reading 1 MiB, as a playbook may ask; what is wrong, or None."""
        diagnostics = self.app.diagnostics
        action = diagnostics.actions["logs"]
        params = action.build({"target": target, "limit_bytes": 1 << 20, "since": "1h"})
        run = await diagnostics.run(action, params, user=self.oncall, incident=None)
        if run.outcome != "ok" or run.result is None:
            return f"outcome {run.outcome}: {run.message}"
        shown = "\n".join(
            [*run.result.headline, *(s.text for s in run.result.sections)]
            + [str(f.content) for f in run.result.files]
        )
        if any(secret in shown for secret in SECRETS) or "=x," in shown:
            return "a secret or a value survived"
        return None

    async def hostile_1_mb(self) -> str | None:
        return await self.read_1_mb("hostile")

    async def ordinary_1_mb(self) -> str | None:
        return await self.read_1_mb("calm-big")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def phase(
    name: str, seconds: float, work: Any, marks: list[tuple[str, float, float]]
) -> list[str]:
    """Run `work` again and again for `seconds` (at least once); its complaints."""
    problems: list[str] = []
    started = time.monotonic()
    rounds = 0
    while rounds == 0 or time.monotonic() - started < seconds:
        if work is None:
            await asyncio.sleep(seconds)
        else:
            problem = await work()
            if problem:
                problems.append(problem)
        rounds += 1
    marks.append((name, started, time.monotonic()))
    print(f"  {name}: {rounds} round(s) in {time.monotonic() - started:.1f} s", flush=True)
    return problems


def time_redaction() -> list[tuple[str, float]]:
    timings = []
    for case in CASES:
        started = time.perf_counter()
        redact(case.text)
        timings.append((case.name, time.perf_counter() - started))
    return timings


async def run(seconds: float, smoke: bool) -> int:
    if not smoke:  # tests/runtime/test_redaction_linear.py checks them; here only their cost
        print("redaction of each 1 MB input of tests/runtime/adversarial.py, alone:", flush=True)
        timings = time_redaction()
        costs = [t for _, t in timings]
        worst = max(timings, key=lambda item: item[1])
        print(
            f"  {len(costs)} inputs: median {statistics.median(costs) * 1000:.0f} ms, "
            f"max {worst[1] * 1000:.0f} ms ({worst[0]})",
            flush=True,
        )

    urls: Queue[str] = multiprocessing.Queue()
    stop_kube = multiprocessing.Event()
    kube_process = multiprocessing.Process(target=serve_kubernetes, args=(urls, stop_kube))
    kube_process.start()
    redis = Redis.from_url(REDIS_URL)
    prefix = f"flbench:{uuid.uuid4().hex[:10]}:"
    problems: list[str] = []
    marks: list[tuple[str, float, float]] = []
    samples: list[tuple[float, float, bool]] = []
    try:
        kube_url = await asyncio.to_thread(urls.get, True, 60)
        api = api_client(kube_url)
        async with SlackDouble(signing_secret=SIGNING_SECRET) as slack:
            oncall = slack.add_user("olive")
            broadcast = slack.add_channel("incidents", members=[oncall])
            deps = Deps(redis=RedisHandle(client=redis, description="bench Redis"),
                        policy=policy_for(oncall), kube_clients={"test": api})  # fmt: skip
            app = create_app(settings_for(slack, broadcast, redis_prefix=prefix), deps)
            await app.start()
            slack.request_url = f"{app.url}/slack/events"
            bot = Bot(slack, app, oncall)
            # Warm up both paths once (imports, connections) before measuring.
            warm = (bot.ordinary_grep, bot.hostile_grep, bot.ordinary_1_mb, bot.hostile_1_mb)
            problems += [p for p in [await work() for work in warm] if p]
            stop_sampler = multiprocessing.Event()
            results: Queue[list[tuple[float, float, bool]]] = multiprocessing.Queue()
            port = int(app.url.rsplit(":", 1)[1])
            sampler = multiprocessing.Process(
                target=sample_healthz, args=(port, stop_sampler, results)
            )
            sampler.start()
            await asyncio.sleep(0.5)  # the sampler's first connection
            print("phases:", flush=True)
            problems += await phase("idle", seconds, None, marks)
            problems += await phase("ordinary grep", seconds, bot.ordinary_grep, marks)
            problems += await phase("hostile grep", seconds, bot.hostile_grep, marks)
            problems += await phase("ordinary 1 MB", seconds, bot.ordinary_1_mb, marks)
            problems += await phase("hostile 1 MB", seconds, bot.hostile_1_mb, marks)
            for kind in ("ordinary-grep", "hostile-grep"):
                problems += bot.answers(kind, "No lines match")
            stop_sampler.set()
            # Off the loop: the sampler's last request must still be answered.
            samples = await asyncio.to_thread(results.get, True, 30)
            await asyncio.to_thread(sampler.join, 10)
            await app.stop()
            api.close()  # type: ignore[no-untyped-call]
    finally:
        stop_kube.set()
        kube_process.join(10)
        async for key in redis.scan_iter(match=f"{prefix}*", count=500):
            await redis.delete(key)
        await redis.aclose()

    print("\n/healthz latency (ms), sampled back to back from another process:")
    print(f"  {'phase':14} {'n':>6} {'p50':>7} {'p99':>7} {'max':>7} {'failed':>6}")
    table: dict[str, tuple[float, float, float]] = {}
    for name, start, end in marks:
        inside = [(lat, ok) for sent, lat, ok in samples if start <= sent <= end]
        latencies = [lat for lat, _ in inside]
        failed = sum(1 for _, ok in inside if not ok)
        if not latencies:
            problems.append(f"no /healthz sample in phase {name}")
            continue
        p50, p99, top = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
        table[name] = (p50, p99, top)
        print(f"  {name:14} {len(latencies):6d} {p50:7.2f} {p99:7.2f} {top:7.2f} {failed:6d}")
        if failed:
            problems.append(f"{failed} /healthz request(s) failed during {name}")
        if top >= STALL_MS:
            problems.append(f"/healthz stalled {top:.0f} ms during {name}: the event loop froze")
    for kind in ("grep", "1 MB"):
        ordinary, hostile = table.get(f"ordinary {kind}"), table.get(f"hostile {kind}")
        if ordinary and hostile:
            verdict = "within" if hostile[1] <= ordinary[1] + 5.0 else "ABOVE"
            print(f"  hostile {kind}: p99 {hostile[1]:.2f} ms, {verdict} the target "
                  f"(ordinary {kind} p99 {ordinary[1]:.2f} ms + 5 ms)")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"  load average (1 min): {load:.2f}")
    for problem in problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--smoke", action="store_true", help="1 s phases; exit 1 if broken")
    args = parser.parse_args()
    seconds = 1.0 if args.smoke else args.seconds
    sys.exit(asyncio.run(run(seconds, args.smoke)))


if __name__ == "__main__":
    main()
