"""An incident's Slack artefacts, made once: its channel, the invitations, the pinned card and
the announcement in the broadcast channel.

Each step is skipped when its artefact is already recorded on the incident, and each artefact's
ID is recorded the moment it exists, so a retry (or another replica) finishes the same work
instead of repeating it. The channel's name is recorded *before* `conversations.create`: after
a crash between the create and the save, the retry meets `name_taken`, recognises the channel
as its own (`adoptable`) and adopts it instead of making `-2`. The card and the announcement
are posted once by key (`bot.runtime.posts`): recorded before they go out, looked up in Slack
after a lost answer or a crash before their ts was saved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime

from bot.blockkit import Block
from bot.clock import Clock
from bot.errors import SlackRejected
from bot.gateways.slack import SlackGateway
from bot.incident import Change, Incident
from bot.incidents import views as blocks
from bot.runtime.posts import Posts
from bot.runtime.redaction import redact
from bot.store.store import Store

MAX_CHANNEL_NAME = 80
MAX_NAME_ATTEMPTS = 20


def channel_name(prefix: str, title: str, created_at: datetime, number: int) -> str:
    """`<prefix>-<yyyymmdd>-<slug>` within Slack's rules (lowercase, ≤ 80, no spaces/periods).
    A secret typed into the title stays out of the name: every member can see channel names, and
    the slug's dashes would hide it from the redaction of logs."""
    clean = redact(title)
    ascii_title = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or f"inc-{number}"
    base = f"{prefix}-{created_at.strftime('%Y%m%d')}-{slug}"
    return base[:MAX_CHANNEL_NAME].rstrip("-")


def with_suffix(name: str, attempt: int) -> str:
    if attempt == 0:
        return name
    suffix = f"-{attempt + 1}"
    return name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-") + suffix


class Provisioner:
    """Makes whatever Slack artefacts an incident still lacks (the caller holds its lock)."""

    def __init__(
        self,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        *,
        channel_prefix: str,
        broadcast_channel: str | None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.channel_prefix = channel_prefix
        self.broadcast_channel = broadcast_channel
        self.posts = Posts(store.redis, store.keys, slack)
        self.bot_user_id: str | None = None

    async def complete(self, incident: Incident) -> Incident:
        """Channel, invitations, card, announcement: each made unless already there."""
        incident = await self._ensure_channel(incident)
        assert incident.channel_id is not None
        await self.slack.invite(
            incident.channel_id,
            [u for u in {incident.reporter, incident.commander} if u and u != self.bot_user_id],
        )
        incident = await self._ensure_card(incident)
        return await self._ensure_announcement(incident)

    async def post_in_broadcast(
        self, text: str, body: Block | list[Block], *, once: str | None = None
    ) -> str:
        """Post in the broadcast channel, joining it first if the bot is not in it yet;
        `once`: a key the post is made once under (`Posts.once`)."""
        channel = self.broadcast_channel
        assert channel is not None
        payload = body if isinstance(body, list) else [body]

        async def post() -> str:
            if once is None:
                return await self.slack.post_message(channel, text, payload)
            return await self.posts.once(once, channel, text, payload)

        try:
            return await post()
        except SlackRejected as exc:
            if exc.code != "not_in_channel":
                raise
            await self.slack.join(channel)
            return await post()

    async def _ensure_channel(self, incident: Incident) -> Incident:
        if incident.channel_id:
            return incident
        base = channel_name(
            self.channel_prefix, incident.title, incident.created_at, incident.number
        )
        for attempt in range(MAX_NAME_ATTEMPTS):
            name = with_suffix(base, attempt)
            if incident.channel_name != name:
                # Remember the name before creating, so a crash right after the create can
                # recognise the channel as ours instead of making a second one.
                incident, _ = await self.store.mutate(
                    incident.id, setting(channel_name=name), bump=False
                )
            try:
                channel_id = await self.slack.create_channel(name)
            except SlackRejected as exc:
                if exc.code != "name_taken":
                    raise
                adopted = await self._adoptable(name, incident)
                if adopted is None:
                    continue
                channel_id = adopted
            updated, _ = await self.store.mutate(
                incident.id, setting(channel_id=channel_id, channel_name=name), bump=False
            )
            return updated
        raise SlackRejected("conversations.create", "name_taken")

    async def _adoptable(self, name: str, incident: Incident) -> str | None:
        """The channel of that name if we created it for this incident before a crash.

        Between `conversations.create` and saving its ID nothing else happens, so such a
        channel was created by our bot user no earlier than the incident, has nobody in it but
        the bot, and belongs to no other incident. Anyone else's channel fails one of these.
        """
        channel = await self.slack.find_channel_by_name(name)
        if channel is None or channel.get("creator") != self.bot_user_id:
            return None
        if int(channel.get("num_members") or 0) > 1:
            return None
        if int(channel.get("created") or 0) < int(incident.created_at.timestamp()):
            return None
        channel_id = str(channel["id"])
        if await self.store.find_by_channel(channel_id) is not None:
            return None
        return channel_id

    async def _ensure_card(self, incident: Incident) -> Incident:
        if incident.card_ts:
            return incident
        assert incident.channel_id is not None
        # Recorded before it goes out and looked up after a lost answer or a crash before the
        # ts below is saved (`Posts.once`): an incident never gets a second card.
        ts, made = await self.posts.once_made(
            f"card:{incident.id}",
            incident.channel_id,
            blocks.card_text(incident),
            blocks.card(incident, self.clock.now()),
        )
        await self.slack.pin(incident.channel_id, ts)
        # Rendered from `incident` as read: a change recorded since (an acknowledgement while
        # the post was on its way) is newer than the card, and the refresh must draw it. A card
        # an earlier attempt made (found, not posted) shows what was true then: drawn anew.
        shown = incident.version if made else -1
        updated, _ = await self.store.mutate(
            incident.id,
            lambda i: (i.model_copy(update={"card_ts": ts, "rendered_version": shown}), []),
            bump=False,
        )
        return updated

    async def _ensure_announcement(self, incident: Incident) -> Incident:
        if incident.announcement_ts or not self.broadcast_channel:
            return incident
        text, body = blocks.announcement(incident)
        ts = await self.post_in_broadcast(text, body, once=f"announcement:{incident.id}")
        updated, _ = await self.store.mutate(incident.id, setting(announcement_ts=ts), bump=False)
        return updated


def setting(**fields: object) -> Callable[[Incident], Change]:
    """A bookkeeping change that sets `fields` and adds nothing to the timeline."""

    def change(incident: Incident) -> Change:
        return incident.model_copy(update=fields), []

    return change
