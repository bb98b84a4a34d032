"""Every pattern run over outside text finishes on 1 MB of hostile input, with the right answer.

Not a timing test: a linear pass over each input takes milliseconds, and the whole set a few
seconds; a quadratic pattern needs ~10^12 steps per input (issue 13's `_KEY_VALUE` took 17 s
on 16 KB, so about 20 hours on 1 MB). The deadline sits between the two, a hundred times
above the linear cost and hundreds of times below the quadratic one, so it neither flakes on a
loaded machine nor lets a quadratic pattern through. The inputs run in a child process because
a backtracking `re` match never returns to Python: no in-process timeout could stop it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 150


def run_child(module: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", module],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        shown = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(f"not linear: still running after {DEADLINE_S} s; finished so far:\n{shown}")


@pytest.mark.process
@pytest.mark.slow
@pytest.mark.timeout(DEADLINE_S + 30)
def test_every_pattern_finishes_1_mb_of_hostile_input_correctly() -> None:
    done = run_child("tests.runtime.adversarial")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("0 wrong")
    assert done.stdout.count(" ok\n") >= 40, done.stdout
