"""Fireline's alerts on itself (deploy/prometheus/, deploy/kubernetes/monitoring/): valid for
the real promtool, unit-tested with `promtool test rules`, naming only metrics the bot serves,
and evaluated by a real Prometheus (Debian's) scraping a running bot on loopback."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.metrics import Metrics
from tests.alerts.storm import notification
from tests.ops.conftest import readyz
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "fireline-rules.yml"
RULES_TESTS = ROOT / "deploy" / "prometheus" / "fireline-rules.test.yml"
MONITORING = ROOT / "deploy" / "kubernetes" / "monitoring"
INTERVAL = "250ms"  # scrape and evaluation: tiny, so the test waits for conditions, not minutes


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: apt-get install --no-install-recommends prometheus")
    return found


def promtool(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.process
def test_promtool_checks_the_rules() -> None:
    assert "SUCCESS: 13 rules found" in promtool("check", "rules", str(RULES))


@pytest.mark.process
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)


@pytest.mark.process
def test_the_prometheus_rule_holds_the_same_groups(tmp_path: Path) -> None:
    plain = yaml.safe_load(RULES.read_text())
    crd = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert crd["kind"] == "PrometheusRule"
    assert crd["apiVersion"] == "monitoring.coreos.com/v1"
    assert crd["spec"]["groups"] == plain["groups"]
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(crd["spec"]))
    promtool("check", "rules", str(spec))


def test_the_service_monitor_scrapes_the_service_the_rules_name() -> None:
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text())
    deploy = ROOT / "deploy" / "kubernetes" / "deployment.yaml"
    service = next(d for d in yaml.safe_load_all(deploy.read_text()) if d["kind"] == "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert 'job="fireline"' in RULES.read_text() and service["metadata"]["name"] == "fireline"


def test_every_metric_the_rules_name_is_served() -> None:
    served = {m.name for m in Metrics().registry.collect()}
    named = set(re.findall(r"\b(fireline_[a-z_]+)", RULES.read_text()))
    assert named
    for name in named:
        base = re.sub(r"_(bucket|count|sum|total)$", "", name)
        assert base in served, f"{name} is in the rules but the bot serves no {base}"


def quick_rules(tmp_path: Path) -> Path:
    """The shipped rules with every `for:` at zero: the test waits for conditions only."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = INTERVAL
        for rule in group["rules"]:
            rule["for"] = "0s"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    return path


@asynccontextmanager
async def running_prometheus(tmp_path: Path, target: str) -> AsyncIterator[str]:
    """Debian's prometheus on loopback, its own data dir, scraping `target` as job fireline."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
                "rule_files": [str(quick_rules(tmp_path))],
                "scrape_configs": [
                    {
                        "job_name": "fireline",
                        "scrape_timeout": INTERVAL,
                        "static_configs": [{"targets": [target]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await until(lambda: get(url, "/-/ready"), "Prometheus ready", log)
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def get(url: str, path: str, **params: str) -> Any:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}{path}", params=params) as response,
        ):
            if response.status != 200:
                return None
            if response.content_type == "application/json":
                return await response.json()
            return await response.text()
    except aiohttp.ClientError:
        return None


async def until(check: Any, what: str, log: Path | None = None, limit_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while asyncio.get_running_loop().time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{tail(log)}")


def tail(log: Path | None) -> str:
    return log.read_text()[-2000:] if log is not None and log.exists() else ""


async def firing(url: str) -> dict[str, dict[str, str]]:
    """Alert name → labels of the alerts Prometheus has firing now."""
    body = await get(url, "/api/v1/alerts")
    alerts = body["data"]["alerts"] if body else []
    return {a["labels"]["alertname"]: a["labels"] for a in alerts if a["state"] == "firing"}


@pytest.mark.process
@pytest.mark.slow
async def test_a_real_prometheus_scraping_the_bot_fires_its_alerts(bots, tmp_path: Path) -> None:
    h = await bots()
    host_port = h.app.url.removeprefix("http://")
    async with running_prometheus(tmp_path, host_port) as prometheus:

        async def scraped() -> float | None:
            body = await get(prometheus, "/api/v1/query", query='up{job="fireline"} == 1')
            result = body["data"]["result"] if body else []
            return float(result[0]["value"][0]) if result else None  # Prometheus' time then

        up_at = await until(scraped, "the bot scraped")

        async def rules_evaluated() -> bool:
            body = await get(prometheus, "/api/v1/rules")
            rules = [r for g in (body["data"]["groups"] if body else []) for r in g["rules"]]
            return bool(rules) and all(_epoch(r["lastEvaluation"]) > up_at for r in rules)

        await until(rules_evaluated, "every rule evaluated since the bot was scraped")
        assert await firing(prometheus) == {}  # a healthy bot fires nothing

        # Slack revokes the token while an alert is being posted.
        h.slack.fail_next("chat.postMessage", error="token_revoked")
        assert (await h.webhook(notification(1, 2)))[0] == 200
        lost = await until(
            lambda: _get_alert(prometheus, "FirelineSlackAccessLost"), "FirelineSlackAccessLost"
        )
        assert lost["reason"] == "token_revoked" and lost["severity"] == "critical"
        assert (await readyz(h.app))[0] == 503

        # The bot stops: Prometheus cannot scrape it.
        await h.app.stop()
        h_down = await until(lambda: _get_alert(prometheus, "FirelineDown"), "FirelineDown")
        assert h_down["instance"] == host_port


def _epoch(rfc3339: str) -> float:
    """Prometheus' timestamps (nanosecond fractions) as epoch seconds."""
    main, _, fraction = rfc3339.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(main).replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{fraction or 0}")


async def _get_alert(url: str, name: str) -> dict[str, str] | None:
    return (await firing(url)).get(name)
