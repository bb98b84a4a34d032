"""Things users do to workspace state that Slack reports to the app as events."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.interactions import InteractionsMixin
from bot.sandbox.doubles.slack.records import Delivery
from bot.sandbox.doubles.slack.workspace import Channel


class UserActionsMixin(InteractionsMixin):
    """Change state as a user would, then deliver the matching event to the app.

    Events are delivered only for conversations the bot is a member of, as Slack does, and
    only when an app is listening (request URL set, or a Socket Mode connection open). Each
    method returns the delivery, or None when nothing was delivered.
    """

    def _channel_type(self, ch: Channel) -> str:
        if ch.is_im:
            return "im"
        if ch.is_mpim:
            return "mpim"
        return "group" if ch.is_private else "channel"

    async def _event_if_member(
        self, ch: Channel, event: dict[str, Any], socket: bool | None
    ) -> Delivery | None:
        if self.ws.bot_user.id not in ch.members or not self._deliverer.has_target(socket):
            return None
        subscribed = self._deliverer.app.bot_events
        if subscribed is not None and event.get("type") not in subscribed:
            return None
        return await self.send_event(event, socket=socket)

    async def post_as_user(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
        *,
        blocks: list[dict[str, Any]] | None = None,
        socket: bool | None = None,
    ) -> str:
        """Store a user's message (``message`` event, plus ``app_mention`` if it mentions the
        bot); returns its ts."""
        with self.ws.lock:
            user, ch = self.ws.user(user_id), self.ws.channel(channel_id)
            data: dict[str, Any] = {"user": user.id, "text": text, "team": self.ws.team.id}
            if blocks is not None:
                data["blocks"] = blocks
            msg = self.ws.store_message(ch, data, thread_ts=thread_ts)
            event = {
                **msg.to_dict(),
                "channel": ch.id,
                "event_ts": msg.ts,
                "channel_type": self._channel_type(ch),
            }
        await self._event_if_member(ch, event, socket)
        if f"<@{self.ws.bot_user.id}>" in text:
            mention = {k: v for k, v in event.items() if k != "channel_type"}
            await self._event_if_member(ch, {**mention, "type": "app_mention"}, socket)
        return msg.ts

    async def add_reaction_as_user(
        self,
        user_id: str,
        channel_id: str,
        ts: str,
        name: str,
        *,
        socket: bool | None = None,
    ) -> Delivery | None:
        with self.ws.lock:
            user, ch = self.ws.user(user_id), self.ws.channel(channel_id)
            msg = self.ws.message(ch, ts)
            users = msg.reactions.setdefault(name, [])
            if user.id in users:
                raise ValueError(f"{user_id} already reacted with {name}")
            users.append(user.id)
            event = {
                "type": "reaction_added",
                "user": user.id,
                "reaction": name,
                "item_user": msg.data.get("user"),
                "item": {"type": "message", "channel": ch.id, "ts": ts},
                "event_ts": self.ws.ids.new_ts(),
            }
        return await self._event_if_member(ch, event, socket)

    async def remove_reaction_as_user(
        self,
        user_id: str,
        channel_id: str,
        ts: str,
        name: str,
        *,
        socket: bool | None = None,
    ) -> Delivery | None:
        with self.ws.lock:
            user, ch = self.ws.user(user_id), self.ws.channel(channel_id)
            msg = self.ws.message(ch, ts)
            users = msg.reactions.get(name, [])
            if user.id not in users:
                raise ValueError(f"{user_id} has no {name} reaction there")
            users.remove(user.id)
            if not users:
                del msg.reactions[name]
            event = {
                "type": "reaction_removed",
                "user": user.id,
                "reaction": name,
                "item_user": msg.data.get("user"),
                "item": {"type": "message", "channel": ch.id, "ts": ts},
                "event_ts": self.ws.ids.new_ts(),
            }
        return await self._event_if_member(ch, event, socket)

    async def pin_as_user(
        self,
        user_id: str,
        channel_id: str,
        ts: str,
        *,
        socket: bool | None = None,
    ) -> Delivery | None:
        with self.ws.lock:
            user, ch = self.ws.user(user_id), self.ws.channel(channel_id)
            msg = self.ws.message(ch, ts)
            if msg.pinned_by:
                raise ValueError("already pinned")
            msg.pinned_by, msg.pinned_at = user.id, self.ws.now()
            pin_count = sum(1 for m in ch.messages.values() if m.pinned_by)
            event = {
                "type": "pin_added",
                "user": user.id,
                "channel_id": ch.id,
                "item": {
                    "type": "message",
                    "channel": ch.id,
                    "created": int(msg.pinned_at),
                    "created_by": user.id,
                    "message": msg.to_dict(),
                },
                "item_user": msg.data.get("user"),
                "pin_count": pin_count,
                "pinned_info": {
                    "channel": ch.id,
                    "pinned_by": user.id,
                    "pinned_ts": int(msg.pinned_at),
                },
                "event_ts": self.ws.ids.new_ts(),
            }
        return await self._event_if_member(ch, event, socket)

    async def join_as_user(
        self,
        user_id: str,
        channel_id: str,
        *,
        socket: bool | None = None,
    ) -> Delivery | None:
        """A user joins a conversation (``member_joined_channel``)."""
        with self.ws.lock:
            user, ch = self.ws.user(user_id), self.ws.channel(channel_id)
            if user.id not in ch.members:
                ch.members.append(user.id)
            event = {
                "type": "member_joined_channel",
                "user": user.id,
                "channel": ch.id,
                "channel_type": "G" if ch.is_private else "C",
                "team": self.ws.team.id,
                "event_ts": self.ws.ids.new_ts(),
            }
        return await self._event_if_member(ch, event, socket)
