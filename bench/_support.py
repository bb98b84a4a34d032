"""What every benchmark shares: its `--smoke` flag and its correctness checks.

A benchmark whose figures come from a broken run (items lost or posted twice, a crash caught
and printed) is worse than none, and one that nobody runs rots: `python -m bench --smoke` runs
each of them on tiny inputs in CI. So every benchmark checks its own results with `check()`,
in smoke and full runs alike, and fails loudly rather than printing figures.

Benchmarks only ever target loopback addresses.
"""

from __future__ import annotations

import argparse

SMOKE_HELP = "a few seconds on tiny inputs: does it still run and pass its own checks? (CI)"


class Broken(Exception):
    """The benchmark's own correctness check failed: its figures would mean nothing."""


def check(ok: bool, what: str) -> None:
    """Raise `Broken(what)` unless `ok`; unlike `assert`, never stripped by `python -O`."""
    if not ok:
        raise Broken(what)


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
