"""What parsing one pod log costs `diagnose`: redaction, the API's stamps, each line's level and,
for the error and warning lines, its template (bot/diagnostics/log_reads.py `_prepare`), on
logs of the kinds production writes, each the most `diagnose` reads of one pod (64 KiB).

    python -m bench.log_parsing_bench [--rounds 20] [--smoke]

Kinds: the diagnose bench's plain lines (`INFO job 7 done in 27ms`, repeated words), JSON
access-log lines (each distinct: every line is templated afresh), logfmt lines, and the worst
case for redaction (a secret every few words). CPU time (`time.process_time`), best of
`--rounds`, each parse with a fresh line cache as a first diagnosis has. Checked in every run:
the parse keeps every line, templates the errors and leaves no planted secret.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from bench._support import add_smoke_flag, check
from bot.diagnostics.log_reads import LOG_BYTES, _prepare

STAMP = "2026-12-01T01:00:{:02d}.123456789Z "
SECRET = "hunter2"


def plain(i: int) -> str:
    if i % 4:
        return f"INFO job {i} done in {20 + i % 7}ms"
    return f'ERROR job {i} failed: upstream "ledger" returned 503'


def access_json(i: int) -> str:
    return json.dumps({
        "level": "error" if i % 3 == 0 else "info", "ts": 1764550000.123 + i,
        "msg": "request failed" if i % 3 == 0 else "request served",
        "path": f"/api/v1/orders/{10_000 + i}", "status": 500 if i % 3 == 0 else 200,
        "latency_ms": round(3.1 * i, 1), "trace": f"{i * 7919:032x}", "user": f"u{i}@example.com",
    })  # fmt: skip


def logfmt(i: int) -> str:
    level = "error" if i % 3 == 0 else "info"
    return (
        f"level={level} ts=2026-12-01T01:00:{i % 60:02d}Z caller=db.go:{100 + i % 50} "
        f'msg="query took too long" duration={i % 900}ms rows={i * 3} conn=10.0.{i % 256}.7:5432'
    )


def secrets(i: int) -> str:
    return (
        f"ERROR password={SECRET} token=xoxb-{i}-5678-abcdef Authorization: Bearer "
        f"eyJhbGciOi.{i}.def postgres://u:{SECRET}@h/db"
    )


KINDS: dict[str, Callable[[int], str]] = {
    "plain (diagnose bench)": plain,
    "JSON access log": access_json,
    "logfmt": logfmt,
    "secrets every few words": secrets,
}


def log_of(line: Callable[[int], str], size: int) -> str:
    lines, total, i = [], 0, 0
    while total < size:
        text = STAMP.format(i % 60) + line(i) + "\n"
        lines.append(text)
        total += len(text)
        i += 1
    return "".join(lines)[:size].rsplit("\n", 1)[0] + "\n"


def main(rounds: int, size: int) -> None:
    print(f"one pod's log of {size // 1024} KiB, best of {rounds} (CPU time)")
    print(f"  {'kind':<26} {'lines':>6} {'ms a log':>9} {'µs a line':>10}")
    for name, line in KINDS.items():
        text = log_of(line, size)
        lines = text.count("\n")
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            got = _prepare("pod-1", text, size, {})
            best = min(best, time.process_time() - started)
        check(len(got.log.lines) == lines, f"{name}: {len(got.log.lines)} of {lines} lines kept")
        check(bool(got.classified), f"{name}: no error line was templated")
        check(all(SECRET not in shown for shown in got.log.lines), f"{name}: a secret shown")
        print(f"  {name:<26} {lines:>6} {best * 1e3:>9.2f} {best / lines * 1e6:>10.1f}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        main(2, 4096)
    else:
        main(args.rounds, LOG_BYTES)


if __name__ == "__main__":
    cli()
