"""The running sandbox as the modules it composes see it: its page, the page's state, drills.

`bot.sandbox.world.Sandbox` builds everything (the bot, the doubles, the page's routes, a
drill) and those parts need a few of its pieces back. They name them here, as a protocol,
rather than import `world`, which imports them: no import cycle, `TYPE_CHECKING` ones included.
`Changes`, the page's change feed that the world holds and drills bump, lives here for the same
reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from bot.app import Fireline
from bot.sandbox.alerts import AlertExample
from bot.sandbox.clock import ScaledClock
from bot.sandbox.doubles.kubernetes import Cluster as SimulatedCluster
from bot.sandbox.doubles.kubernetes import KubernetesDouble
from bot.sandbox.doubles.slack import SlackDouble
from bot.sandbox.people import Persona
from bot.sandbox.telemetry import Telemetry


class Changes:
    """A revision number bumped on every change, and a way to wait for the next one."""

    def __init__(self) -> None:
        self.revision = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def bump(self) -> None:
        """Safe from any thread (the Slack double may serve from its own)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._bump)

    def _bump(self) -> None:
        self.revision += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, seen: int, limit_s: float) -> int:
        if self.revision == seen:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, limit_s)
            self._waiters.discard(waiter)
        return self.revision


class DrillStatus(Protocol):
    """A drill being played, as the page shows it."""

    def status(self) -> dict[str, object]: ...


class StartedWith(Protocol):
    @property
    def kube_context(self) -> str | None: ...


class LiveSandbox(Protocol):
    """What the page, its state and the drills use of a started `Sandbox`."""

    changes: Changes | None
    """The page's change feed (set when the page's routes are added)."""
    drill: DrillStatus | None
    """The drill being played, if any (set when it starts)."""

    @property
    def slack(self) -> SlackDouble: ...
    @property
    def clock(self) -> ScaledClock: ...
    @property
    def people(self) -> dict[str, Persona]: ...
    @property
    def channels(self) -> dict[str, str]: ...
    @property
    def cluster(self) -> SimulatedCluster | None: ...
    @property
    def kube(self) -> KubernetesDouble | None: ...
    @property
    def options(self) -> StartedWith: ...
    @property
    def app(self) -> Fireline | None: ...
    @property
    def telemetry(self) -> Telemetry | None:
        """The simulated services' state at any moment (error rate, requests, p95, health);
        None with `--cluster`."""
        ...

    def alert_examples(self) -> list[AlertExample]: ...

    async def fire_alert(self, example: AlertExample, *, status: str = "firing") -> int: ...
