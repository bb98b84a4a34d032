"""`make run` on a fresh clone with no Slack tokens: `fireline serve` starts the sandbox and
prints the page's address, and that page works (state read, a command typed, the bot answers)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.process
@pytest.mark.slow
def test_serve_without_tokens_starts_a_working_sandbox(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,  # no .env here
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "FIRELINE_HTTP_PORT": "0",
            "HOME": str(tmp_path),  # the sandbox writes ~/.kube/fireline-sandbox.yaml
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the sandbox is up (or it died)
        found = re.search(r"open (http://127\.0\.0\.1:\d+/sandbox)", line)
        assert found, f"no sandbox address in {line!r}; stderr: {process.stderr.read()[-2000:]}"  # type: ignore[union-attr]
        url = found.group(1)
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "Fireline sandbox" in page.text
        # As the page does: this run's token from the page, its own Origin on changes.
        token = re.search(r'name="sandbox-token" content="([^"]+)"', page.text)
        assert token
        page_headers = {"X-Sandbox-Token": token.group(1)}
        state = httpx.get(f"{url}/api/state", headers=page_headers, timeout=10).json()
        riley = next(p["id"] for p in state["people"] if p["role"] == "responder")
        answer = httpx.post(
            f"{url}/api/command",
            json={"as": riley, "channel": state["channel"], "text": "/incident declare P2 Slow"},
            headers={**page_headers, "Origin": url.removesuffix("/sandbox")},
            timeout=10,
        ).json()
        assert answer == {"ok": True, "status": 200}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = httpx.get(
                f"{url}/api/state",
                params={"as": riley, "channel": state["channel"]},
                headers=page_headers,
                timeout=10,
            ).json()
            # The channel is made before the declarer is told, so wait for both.
            made = any(c["name"].startswith("inc-") for c in state["channels"])
            if made and any("INC-1 declared" in (e["text"] or "") for e in state["ephemerals"]):
                break
            time.sleep(0.1)
        assert [c["name"] for c in state["channels"] if c["name"].startswith("inc-")]
        assert any("INC-1 declared" in (e["text"] or "") for e in state["ephemerals"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)  # what it says is a few lines: no pipe fills meanwhile
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            raise
    # Read through the pipes' own buffers: `readline` above may have taken the lines after the
    # first into its buffer, which `communicate()` (reading the descriptors) would never see.
    assert process.stdout is not None and process.stderr is not None
    with process.stdout, process.stderr:
        out, err = line + process.stdout.read(), process.stderr.read()
    assert process.returncode == 0, err[-2000:]
    assert "No Slack tokens are set" in err and "SLACK_BOT_TOKEN" in err
    # The run's kubeconfig went to the HOME it was given, not the real one, and went with it.
    kubeconfig = tmp_path / ".kube" / "fireline-sandbox.yaml"
    assert f"export KUBECONFIG={kubeconfig}" in out + err
    assert not kubeconfig.exists()
