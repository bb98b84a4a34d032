"""The emulated workspace's state: team, users, user groups, conversations, messages, files."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.doubles.slack.clock import IdFactory
from bot.sandbox.doubles.slack.errors import SlackError
from bot.sandbox.doubles.slack.records import Ephemeral


@dataclass
class Team:
    id: str
    name: str
    domain: str

    @property
    def url(self) -> str:
        return f"https://{self.domain}.slack.com/"


@dataclass
class User:
    id: str
    name: str
    real_name: str
    display_name: str
    team_id: str
    email: str | None = None
    is_bot: bool = False
    is_admin: bool = False
    bot_id: str | None = None
    deleted: bool = False
    tz: str = "UTC"

    def to_dict(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.display_name,
            "real_name_normalized": self.real_name,
            "display_name_normalized": self.display_name,
            "team": self.team_id,
        }
        if self.email:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "is_admin": self.is_admin,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Usergroup:
    id: str
    handle: str
    name: str
    team_id: str
    users: list[str] = field(default_factory=list)

    def to_dict(self, include_users: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "user_count": len(self.users),
        }
        if include_users:
            out["users"] = list(self.users)
        return out


@dataclass
class Message:
    """A stored message. ``data`` holds the Slack message object fields (text, blocks...)."""

    channel_id: str
    ts: str
    data: dict[str, Any]
    replies: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    pinned_by: str | None = None
    pinned_at: float | None = None

    @property
    def thread_ts(self) -> str | None:
        value = self.data.get("thread_ts")
        return str(value) if value else None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_dict(self) -> dict[str, Any]:
        out = copy.deepcopy(self.data)
        out["ts"] = self.ts
        if self.replies:
            out["thread_ts"] = self.ts
            out["reply_count"] = len(self.replies)
            out["latest_reply"] = self.replies[-1]
        if self.reactions:
            out["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in self.reactions.items()
            ]
        if self.pinned_by:
            out["pinned_to"] = [self.channel_id]
        return out


@dataclass
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    is_general: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""
    im_user: str | None = None
    messages: dict[str, Message] = field(default_factory=dict)

    def to_dict(self, bot_user_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "creator": self.creator,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_mpim,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "is_member": bot_user_id in self.members,
        }
        if self.is_im:
            out["user"] = self.im_user
            return out
        out.update(
            name=self.name,
            name_normalized=self.name,
            is_channel=not self.is_private and not self.is_mpim,
            is_group=self.is_private and not self.is_mpim,
            num_members=len(self.members),
            topic={"value": self.topic, "creator": self.creator, "last_set": 0},
            purpose={"value": self.purpose, "creator": self.creator, "last_set": 0},
        )
        return out


@dataclass
class StoredFile:
    id: str
    filename: str
    length: int
    title: str | None = None
    content: bytes | None = None
    user: str = ""
    created: int = 0
    channels: list[str] = field(default_factory=list)
    shares: list[tuple[str, str]] = field(default_factory=list)
    completed: bool = False
    snippet_type: str | None = None

    @property
    def mimetype(self) -> str:
        if self.content is not None and self.content.startswith(b"\x89PNG"):
            return "image/png"
        return "text/markdown" if self.snippet_type == "markdown" else "text/plain"

    def to_dict(self, team_domain: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": self.mimetype,
            "filetype": self.snippet_type
            or (self.filename.rsplit(".", 1)[-1] if "." in self.filename else "text"),
            "user": self.user,
            "size": len(self.content) if self.content is not None else self.length,
            "url_private": f"https://files.slack.com/files-pri/{self.id}/{self.filename}",
            "permalink": f"https://{team_domain}.slack.com/files/{self.user}/{self.id}",
            "channels": list(self.channels),
            "shares": {"public": {c: [{"ts": ts}] for c, ts in self.shares}},
        }


@dataclass
class Trigger:
    id: str
    issued_at: float
    user_id: str
    used: bool = False


@dataclass
class View:
    id: str
    user_id: str
    data: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    state_values: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """All mutable state of one emulated workspace. Guard mutations with ``lock``."""

    def __init__(self, ids: IdFactory, *, team_name: str, team_domain: str, bot_name: str):
        self.ids = ids
        self.lock = threading.RLock()
        self.team = Team(ids.new_id("T"), team_name, team_domain)
        self.app_id = ids.new_id("A")
        self.bot_id = ids.new_id("B")
        self.bot_user = User(
            ids.new_id("U"),
            bot_name,
            bot_name,
            bot_name,
            self.team.id,
            is_bot=True,
            bot_id=self.bot_id,
        )
        self.users: dict[str, User] = {self.bot_user.id: self.bot_user}
        self.usergroups: dict[str, Usergroup] = {}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, StoredFile] = {}
        self.triggers: dict[str, Trigger] = {}
        self.views: dict[str, View] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.home_views: dict[str, str] = {}
        self.ephemerals: list[Ephemeral] = []

    # -- lookups raising Slack's errors -------------------------------------------------------
    def user(self, user_id: str, code: str = "user_not_found") -> User:
        user = self.users.get(user_id)
        if user is None or user.deleted:
            raise SlackError(code)
        return user

    def channel(self, ref: str, code: str = "channel_not_found") -> Channel:
        """A conversation by id, ``#name`` or name."""
        found = self.channels.get(ref)
        if found is None:
            name = ref.lstrip("#")
            found = next((c for c in self.channels.values() if c.name == name and c.name), None)
        if found is None:
            raise SlackError(code)
        return found

    def message(self, channel: Channel, ts: str, code: str = "message_not_found") -> Message:
        msg = channel.messages.get(ts)
        if msg is None:
            raise SlackError(code)
        return msg

    # -- mutations ---------------------------------------------------------------------------
    def now(self) -> float:
        return self.ids.now()

    def add_channel(
        self,
        name: str,
        *,
        creator: str | None = None,
        members: list[str] | None = None,
        is_private: bool = False,
        is_general: bool = False,
    ) -> Channel:
        cid = self.ids.new_id("G" if is_private else "C")
        channel = Channel(
            cid,
            name,
            int(self.now()),
            creator or self.bot_user.id,
            is_private=is_private,
            is_general=is_general,
            members=list(members or []),
        )
        self.channels[cid] = channel
        return channel

    def open_im(self, user_id: str) -> Channel:
        for ch in self.channels.values():
            if ch.is_im and ch.im_user == user_id:
                return ch
        cid = self.ids.new_id("D")
        ch = Channel(
            cid,
            "",
            int(self.now()),
            self.bot_user.id,
            is_im=True,
            im_user=user_id,
            members=[self.bot_user.id, user_id],
        )
        self.channels[cid] = ch
        return ch

    def open_mpim(self, user_ids: list[str]) -> Channel:
        members = sorted({self.bot_user.id, *user_ids})
        for ch in self.channels.values():
            if ch.is_mpim and sorted(ch.members) == members:
                return ch
        names = "--".join(self.users[u].name for u in members)
        ch = Channel(
            self.ids.new_id("G"),
            f"mpdm-{names}-1",
            int(self.now()),
            self.bot_user.id,
            is_mpim=True,
            members=members,
        )
        self.channels[ch.id] = ch
        return ch

    def store_message(
        self, channel: Channel, data: dict[str, Any], thread_ts: str | None = None
    ) -> Message:
        ts = self.ids.new_ts()
        payload = {"type": "message", **data}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        msg = Message(channel.id, ts, payload)
        channel.messages[ts] = msg
        if thread_ts and thread_ts in channel.messages and thread_ts != ts:
            channel.messages[thread_ts].replies.append(ts)
        return msg

    def delete_message(self, channel: Channel, msg: Message) -> None:
        channel.messages.pop(msg.ts, None)
        parent_ts = msg.thread_ts
        if msg.is_reply and parent_ts and parent_ts in channel.messages:
            parent = channel.messages[parent_ts]
            if msg.ts in parent.replies:
                parent.replies.remove(msg.ts)

    def bot_message_fields(self) -> dict[str, Any]:
        return {
            "user": self.bot_user.id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team.id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_user.name,
                "team_id": self.team.id,
                "deleted": False,
            },
        }

    def issue_trigger(self, user_id: str) -> str:
        tid = f"{self.ids.new_id('')}.{self.team.id}.{self.ids.new_token('t').split('-')[-1]}"
        self.triggers[tid] = Trigger(tid, self.now(), user_id)
        return tid

    def add_ephemeral(
        self,
        user_id: str,
        channel_id: str,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        source: str,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        eph = Ephemeral(user_id, channel_id, text, blocks, source, self.ids.new_ts(), thread_ts)
        self.ephemerals.append(eph)
        return eph
