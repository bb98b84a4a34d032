"""Run every benchmark in `bench/` in smoke mode, so that none can rot unnoticed.

    python -m bench --smoke [NAME ...]      (make bench-smoke; .ci/run)
    python -m bench                         lists the benchmarks

Every module of this package whose name does not start with `_` is a benchmark, found here by
listing the package: a new one is run without being registered, and must take `--smoke` (a run
of a few seconds on tiny inputs that fails when the benchmark is broken). Each runs as
`python -m bench.NAME --smoke` in its own process group with a time limit; a benchmark that
exits non-zero or overruns fails the whole run, with the end of its output shown. They run one
after another: on a busy 2-core machine, in parallel they would only slow each other down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pkgutil
import signal
import subprocess
import sys
import time
from pathlib import Path

LIMIT_S = 90.0
"""Per benchmark. Smoke runs take 2-10 s on a quiet machine; the limit is for a hung one."""

TAIL_LINES = 40


def benchmarks() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def smoke(name: str, limit_s: float) -> tuple[bool, float, str]:
    """Run one benchmark in smoke mode: whether it passed, how long it took, its output."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}", "--smoke"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: a timeout ends the doubles it spawned too
    )
    try:
        output, _ = process.communicate(timeout=limit_s)
        ok = process.returncode == 0
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        output += f"\n(killed after {limit_s:.0f} s)"
        ok = False
    else:
        # Whatever it left behind (a double that outlived it) goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return ok, time.monotonic() - started, output


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run them all in smoke mode")
    parser.add_argument("names", nargs="*", help="only these benchmarks (default: all)")
    parser.add_argument("--limit", type=float, default=LIMIT_S, help="seconds per benchmark")
    args = parser.parse_args()
    found = benchmarks()
    if not args.smoke:
        print("benchmarks (python -m bench.NAME --help):", *found, sep="\n  ")
        return 0
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (there are: {', '.join(found)})")
    names = args.names or found
    failed = []
    started = time.monotonic()
    for name in names:
        ok, took, output = smoke(name, args.limit)
        print(f"bench smoke: {name:<20} {'ok' if ok else 'BROKEN':<7} {took:5.1f} s", flush=True)
        if not ok:
            failed.append(name)
            tail = output.rstrip().splitlines()[-TAIL_LINES:]
            print("\n".join(f"    | {line}" for line in tail), flush=True)
    total = time.monotonic() - started
    if failed:
        print(f"bench smoke: BROKEN: {', '.join(failed)} ({len(names)} run in {total:.0f} s)")
        return 1
    print(f"bench smoke: all {len(names)} benchmarks ok in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
