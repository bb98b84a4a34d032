"""Loopback ports for servers a test must tell a port before they start (Alertmanager,
Prometheus, redis-server, a bot that Alertmanager's config points at, a sandbox started again
on the port it had).

Not a port the kernel picked: binding port 0 and closing leaves the port free until the server
binds it, and meanwhile any bind to port 0 or connect() on the machine, such as the other xdist
worker's servers and clients, may be given it. These come from below the kernel's ephemeral
range (`ip_local_port_range`, from 32768 here), which it never hands out, and each pytest
process (each xdist worker) has a slice of its own, so no two workers pick the same port. In a
slice they are handed out in turn, skipping any still bound, so a port is not reused until the
slice wraps.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

FIRST = 20_000
SLICE = 500
"""Ports per pytest process: 20000-20499 without xdist, then gw0, gw1, … above (up to 24)."""


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …; unset without xdist
    index = int(worker.removeprefix("gw")) + 1 if worker.startswith("gw") else 0
    ports = range(FIRST + index * SLICE, FIRST + (index + 1) * SLICE)
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if ephemeral.exists():
        low = int(ephemeral.read_text().split()[0])
        assert ports.stop <= low, f"ports {ports} reach the ephemeral range (from {low})"
    return ports


_next: Iterator[int] | None = None


def free_port() -> int:
    """A loopback port nothing is bound to, that no other worker and no bind to port 0 takes."""
    global _next
    if _next is None:
        _next = itertools.cycle(_slice())
    for _ in range(SLICE):
        port = next(_next)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # still bound (an earlier test's server, or something else's)
        return port
    raise AssertionError(f"every port of {_slice()} is bound")
