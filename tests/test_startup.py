"""Start-up and shutdown a person can read, with real processes: a real port taken by a socket,
the Slack double answering as Slack does, the process tree checked for a leftover redis-server
after SIGTERM, SIGINT, a failed start and a crash."""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.sandbox.doubles.slack import SlackDouble
from tests.fireline_process import (
    NOISE,
    Fireline,
    fireline_env,
    get,
    kill_all,
    redis_servers_in,
    running,
    until,
)

pytestmark = [pytest.mark.process, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    async with SlackDouble() as double:
        yield double


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def bot_env(slack: SlackDouble, data: Path, **values: str) -> dict[str, str]:
    return fireline_env(
        **{
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.app.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "FIRELINE_HTTP_HOST": "127.0.0.1",
            "FIRELINE_HTTP_PORT": "0",
            "FIRELINE_DATA_DIR": str(data),
            **values,
        }
    )


def assert_quiet(run: Fireline) -> None:
    for noise in NOISE:
        assert noise not in run.output, f"{noise!r} in what the person sees:\n{run.output}"


async def serve(tmp_path: Path, env: dict[str, str], *args: str) -> Fireline:
    return await Fireline(["serve", *args], cwd=tmp_path, env=env).start()


async def test_a_taken_port_is_one_line_naming_it_and_how_to_choose_another(
    tmp_path: Path, slack: SlackDouble, taken_port: int
) -> None:
    data = tmp_path / "data"
    run = await serve(tmp_path, bot_env(slack, data, FIRELINE_HTTP_PORT=str(taken_port)))
    try:
        assert await run.exit_code() == 2
    finally:
        await run.kill()
    said = [line for line in run.lines if str(taken_port) in line]
    assert len(said) == 1, run.output
    assert "already in use" in said[0] and "--port" in said[0]
    assert "FIRELINE_HTTP_PORT" in said[0]
    assert_quiet(run)
    assert redis_servers_in(data) == []


async def test_the_sandbox_on_a_taken_port_says_the_same(tmp_path: Path, taken_port: int) -> None:
    run = await Fireline(
        ["sandbox", "--port", str(taken_port)], cwd=tmp_path, env=fireline_env()
    ).start()
    try:
        assert await run.exit_code() == 2
    finally:
        await run.kill()
    said = [line for line in run.lines if str(taken_port) in line]
    assert len(said) == 1 and "--port" in said[0], run.output
    assert_quiet(run)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_bot_and_its_redis(
    tmp_path: Path, slack: SlackDouble, sig: signal.Signals
) -> None:
    data = tmp_path / "data"
    run = await serve(tmp_path, bot_env(slack, data))
    try:
        url = await run.url()
        assert (await get(f"{url}/healthz")).status_code == 200
        assert (await get(f"{url}/readyz")).status_code == 200
        children = run.redis_children()
        assert len(children) == 1, "the embedded Redis is the bot's child"
        assert await run.stop(sig) == 0, run.output
    finally:
        await run.kill()
    assert not running(children[0])
    assert redis_servers_in(data) == []
    assert_quiet(run)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_sandbox_and_its_redis(
    tmp_path: Path, sig: signal.Signals
) -> None:
    run = await Fireline(["sandbox", "--port", "0"], cwd=tmp_path, env=fireline_env()).start()
    try:
        url = await run.url()
        assert (await get(f"{url}/healthz")).status_code == 200
        home = await get(f"{url}/")
        assert home.status_code == 302 and home.headers["Location"] == "/sandbox"
        children = run.redis_children()
        assert len(children) == 1
        assert await run.stop(sig) == 0, run.output
    finally:
        await run.kill()
    assert not running(children[0])
    assert_quiet(run)
    assert "Fireline sandbox stopped: its incidents, cluster and Redis are gone" in run.output


async def test_a_signal_during_start_up_still_stops_everything(
    tmp_path: Path, slack: SlackDouble
) -> None:
    """SIGTERM while start-up waits for Slack (connections dropped, slack_sdk retrying): the
    start is abandoned, and what it had started is stopped."""
    slack.fail_next("auth.test", times=10_000, drop=True)
    data = tmp_path / "data"
    run = await serve(tmp_path, bot_env(slack, data))
    try:
        await run.wait_for_line(re.compile("embedded Redis started"))
        children = run.redis_children()
        assert await run.stop(signal.SIGTERM) == 0, run.output
    finally:
        await run.kill()
    assert "Fireline is up" not in run.output, "the signal should land while it waits"
    assert children and not running(children[0])
    assert redis_servers_in(data) == []
    assert_quiet(run)


async def test_a_crashed_bots_redis_is_reaped_at_the_next_start(
    tmp_path: Path, slack: SlackDouble
) -> None:
    data = tmp_path / "data"
    env = bot_env(slack, data)
    first = await serve(tmp_path, env)
    leftovers: list[int] = []
    try:
        await get(f"{await first.url()}/healthz")
        leftovers = first.redis_children()
        first.send(signal.SIGKILL)
        assert await first.exit_code() == -signal.SIGKILL
        assert running(leftovers[0]), "a crash leaves the embedded Redis running"

        again = await serve(tmp_path, env)
        try:
            assert (await get(f"{await again.url()}/healthz")).status_code == 200
            assert not running(leftovers[0])
            reaped = f"stopped a Redis server left running .*pid {leftovers[0]}"
            assert re.search(reaped, again.output), again.output
            assert await again.stop() == 0
        finally:
            await again.kill()
    finally:
        await first.kill()
        kill_all(leftovers)
    assert redis_servers_in(data) == []


async def test_a_wrong_bot_token_is_invalid_auth_as_slack_answers_it(
    tmp_path: Path, slack: SlackDouble
) -> None:
    """No fault injected: the double answers an unknown token as Slack does. (Every refusal
    code: `tests/test_slack_refusals.py`.)"""
    data = tmp_path / "data"
    run = await serve(tmp_path, bot_env(slack, data, SLACK_BOT_TOKEN="xoxb-0-wrong"))
    try:
        assert await run.exit_code() == 2
    finally:
        await run.kill()
    said = [line for line in run.lines if "SLACK_BOT_TOKEN" in line]
    assert len(said) == 1, run.output
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in said[0]
    assert "OAuth & Permissions" in said[0]
    assert "Fireline is up" not in run.output
    assert_quiet(run)
    assert redis_servers_in(data) == []


async def test_a_wrong_app_token_stops_socket_mode_naming_it(
    tmp_path: Path, slack: SlackDouble
) -> None:
    data = tmp_path / "data"
    run = await serve(tmp_path, bot_env(slack, data, SLACK_APP_TOKEN="xapp-1-wrong-token"))
    try:
        assert await run.exit_code() == 2
    finally:
        await run.kill()
    said = [line for line in run.lines if "SLACK_APP_TOKEN" in line]
    assert len(said) == 1 and "Slack refused SLACK_APP_TOKEN (invalid_auth)" in said[0], run.output
    assert "Basic Information" in said[0]
    assert_quiet(run)
    assert redis_servers_in(data) == []


async def test_slack_out_of_reach_keeps_the_bot_up_not_ready_until_it_answers(
    tmp_path: Path, slack: SlackDouble
) -> None:
    slack.fail_next("auth.test", times=10_000, drop=True)  # connections closed unanswered
    run = await serve(tmp_path, bot_env(slack, tmp_path / "data"))
    try:
        url = await run.url()
        await run.wait_for_line(re.compile(r"Slack cannot be reached .* keeps trying"))
        assert "waiting for Slack" in run.output
        assert (await get(f"{url}/healthz")).status_code == 200
        not_ready = await get(f"{url}/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"] == {"redis": True, "slack": False, "slack_access": True}

        slack.faults.clear()  # Slack answers again

        async def ready() -> bool:
            return (await get(f"{url}/readyz")).status_code == 200

        await until(ready, "/readyz to answer 200 once Slack answers")
        await run.wait_for_line(re.compile("Slack answers again"))
        assert await run.stop() == 0
    finally:
        await run.kill()
    assert len(re.findall("Slack cannot be reached", run.output)) == 1, "said once, not per try"
    assert_quiet(run)
