"""A job's post (`Posts.once`: checklists, reminders, the watchdog) across a failover, on real
Redis processes (a master, two replicas, three Sentinels: tests/sentinel_cluster.py) and the
Slack Web API double.

The post is made once only if a later run of the job can find it, by the attempt recorded
before it went out; a failover keeps only what a replica has. So, as for the alert outbox's
marker (tests/store/test_outbox_failover.py), an attempt no replica confirms sends nothing.
"""

from __future__ import annotations

import pytest

from bot.errors import Unavailable
from bot.gateways.slack import SlackGateway, build_client
from bot.runtime.posts import Posts
from bot.sandbox.doubles.slack import SlackDouble
from bot.store.keys import Keys
from bot.store.server import RedisHandle
from tests.sentinel_cluster import SentinelCluster


@pytest.mark.process
@pytest.mark.slow
async def test_a_jobs_post_whose_attempt_no_replica_confirms_is_not_sent(
    cluster: SentinelCluster, sentinel_redis: RedisHandle, slack: SlackDouble, prefix: str
) -> None:
    channel = slack.add_channel("inc-1-checkout")
    posts = Posts(
        sentinel_redis.client,
        Keys(prefix),
        SlackGateway(build_client(slack.bot_token, slack.api_url)),
    )
    assert await posts.once("checklist:INC-1:5", channel, "⏱ 5-minute checklist")

    master = await cluster.master_port()
    assert master is not None
    for replica in await cluster.replica_ports():
        await cluster.ask(replica, "REPLICAOF", "NO", "ONE")  # the replicas stop following

    async def alone() -> bool:
        return await cluster.replicas_of(master) == 0

    await cluster.until(alone, "the master to see its replicas gone")
    # The master still takes writes (as one whose replicas lag does): WAIT is what stops the post.
    await cluster.ask(master, "CONFIG", "SET", "min-replicas-to-write", "0")
    with pytest.raises(Unavailable, match="could not confirm the change on a replica"):
        await posts.once("checklist:INC-1:15", channel, "⏱ 15-minute checklist")
    assert [m["text"] for m in slack.messages(channel)] == ["⏱ 5-minute checklist"]
