"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, for tests that need one."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.ports import free_port

CONFIG = """
route:
  receiver: fireline
  group_by: ['alertname', 'namespace']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fireline
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@asynccontextmanager
async def running_alertmanager(tmp_path: Path, webhook_url: str, token: str) -> AsyncIterator[str]:
    """Start Alertmanager (no clustering) delivering to `webhook_url`; yields its base URL."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail(
            "Alertmanager is not installed: apt-get install prometheus-alertmanager "
            "(make test does this via scripts/ensure-services)"
        )
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=webhook_url, token=token))
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *[
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{url}/-/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail(
                    f"Alertmanager did not start: {(tmp_path / 'alertmanager.log').read_text()}"
                )
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
        log.close()
