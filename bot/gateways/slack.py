"""The Slack Web API gateway: the only module that calls `slack_sdk`.

Every call first takes its share of Slack's rate limits from the budget shared by the replicas
(`bot.slack_budget`), at this gateway's priority (incident work, or the alert outbox's
`for_alerts()` view). A 429 blocks the bucket for everyone for `Retry-After`; incident calls then
wait and try again, alert calls raise `Throttled` so the outbox keeps the entry. 5xx answers and
dropped connections are retried by slack_sdk's own retry handlers, except for
`chat.postMessage`: a post whose answer was lost may have been made, so every post carries a
marker in its metadata and is looked up by it before it is tried again (`post_message`).
What still fails is raised as Fireline's errors (`Throttled`, `Unavailable`, `SlackRejected`),
so callers decide what the user is told without knowing slack_sdk.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Protocol

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SlackRejected, Throttled, Unavailable
from bot.gateways.slack_budget import Priority, SlackBudget
from bot.gateways.slack_health import SlackHealth
from bot.metrics import Metrics

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]
MARKER_EVENT = "fireline_outbox"


class Send(Protocol):
    """How a message is posted: `SlackGateway.post_message`, or once per key (`bot.posts`)."""

    async def __call__(
        self, channel: str, text: str, blocks: Blocks | None = None, *, thread_ts: str | None = None
    ) -> str: ...


RATE_LIMITED_ATTEMPTS = 4  # incident calls: the first try and three after Retry-After
POST_ATTEMPTS = 3  # a post whose answer was lost: looked up, then tried again, twice
POST_LOOKBACK_S = 60  # how far before a post Slack is searched for it (clock skew)
NOT_RETRIED_BLINDLY = ("/chat.postMessage",)


class _NotForPosts(AsyncRetryHandler):
    """A slack_sdk retry handler that leaves posts alone (`SlackGateway.post_message` knows
    whether a lost answer's post was made; a blind retry would post it twice)."""

    def __init__(self, inner: AsyncRetryHandler) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.endswith(NOT_RETRIED_BLINDLY):
            return False
        return await self.inner._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def build_client(token: str, base_url: str) -> AsyncWebClient:
    """An AsyncWebClient that retries dropped connections and 5xx (429s: `SlackGateway`)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            _NotForPosts(AsyncConnectionErrorRetryHandler(max_retry_count=2)),
            _NotForPosts(AsyncServerErrorRetryHandler(max_retry_count=2)),
        ],
    )


class SlackGateway:
    """Thin, typed wrappers over the Web API methods Fireline uses."""

    def __init__(
        self,
        client: AsyncWebClient,
        budget: SlackBudget | None = None,
        priority: Priority = Priority.INCIDENT,
        *,
        metrics: Metrics | None = None,
        health: SlackHealth | None = None,
    ) -> None:
        self.client = client
        self.budget = budget
        self.priority = priority
        self.metrics = metrics or Metrics()
        self.health = health
        self._names: dict[str, str] = {}
        self.rate_limited = 0  # 429s Slack answered to this gateway's calls
        self.throttled = 0  # of those, how many were raised to the caller as `Throttled`

    def for_alerts(self) -> SlackGateway:
        """The same client and budget at alert priority: waits behind incident work."""
        view = SlackGateway(
            self.client, self.budget, Priority.ALERT, metrics=self.metrics, health=self.health
        )
        view._names = self._names
        return view

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        channel = kwargs.get("channel")
        attempts = RATE_LIMITED_ATTEMPTS if self.priority is Priority.INCIDENT else 1
        for attempt in range(1, attempts + 1):
            await self._take_budget(method, channel)
            try:
                return await self._send(method, kwargs)
            except Throttled as exc:
                self.rate_limited += 1
                retry_after = exc.retry_after or 1.0
                if self.budget is not None:
                    await self.budget.blocked(method, channel, retry_after)
                if attempt == attempts:
                    self.throttled += 1
                    raise
                if self.budget is None:
                    await asyncio.sleep(retry_after)
        raise AssertionError("unreachable")

    async def _take_budget(self, method: str, channel: str | None) -> None:
        if self.budget is not None:
            waits = await self.budget.acquire(method, channel, self.priority)
            if waits:
                self.metrics.slack_rate_limit_waits.labels(self.priority.name.lower()).inc(waits)

    async def _send(self, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        channel = kwargs.get("channel")
        try:
            # slack_sdk's own method wrappers know each method's verb and encoding.
            call = getattr(self.client, method.replace(".", "_"))
            response = await call(**_drop_none(kwargs))
        except SlackApiError as exc:
            status = exc.response.status_code
            code = _error_code(exc)
            if status == 429:
                self.metrics.slack_call(method, "ratelimited")
                retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
                raise Throttled(f"Slack rate-limited {method}", retry_after=retry_after) from exc
            if status >= 500:
                self.metrics.slack_call(method, "unavailable")
                raise Unavailable(f"Slack answered {status} to {method}") from exc
            self._refused(method, code, channel)
            raise SlackRejected(method, code) from exc
        except (ClientError, TimeoutError, OSError) as exc:
            self.metrics.slack_call(method, "unavailable")
            raise Unavailable(f"Slack could not be reached for {method}") from exc
        self.metrics.slack_call(method, "ok")
        if self.health is not None:
            self.health.succeeded(method, channel)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _refused(self, method: str, code: str, channel: str | None) -> None:
        self.metrics.slack_call(method, code)
        if self.health is not None:
            self.health.refused(method, code, channel)

    async def auth_test(self) -> dict[str, Any]:
        return await self._call("auth.test")

    async def open_connection(self, app_token: str) -> str:
        """A Socket Mode WebSocket URL (`apps.connections.open`, with the app-level token)."""
        data = await self._call("apps.connections.open", app_token=app_token)
        return str(data["url"])

    async def conversation_info(self, channel: str) -> dict[str, Any]:
        """The channel as Fireline sees it (`is_member`, `is_archived`); a self-health probe."""
        data = await self._call("conversations.info", channel=channel)
        return dict(data.get("channel") or {})

    async def create_channel(self, name: str) -> str:
        data = await self._call("conversations.create", name=name, is_private=False)
        return str(data["channel"]["id"])

    async def find_channel_by_name(self, name: str) -> dict[str, Any] | None:
        cursor: str | None = None
        while True:
            data = await self._call(
                "conversations.list",
                exclude_archived=True,
                limit=1000,
                types="public_channel",
                cursor=cursor,
            )
            for channel in data.get("channels", []):
                if channel.get("name") == name:
                    return dict(channel)
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=topic[:250])

    async def set_purpose(self, channel: str, purpose: str) -> None:
        await self._call("conversations.setPurpose", channel=channel, purpose=purpose[:250])

    async def invite(self, channel: str, users: list[str]) -> None:
        wanted = sorted(set(users))
        if not wanted:
            return
        try:
            await self._call("conversations.invite", channel=channel, users=",".join(wanted))
        except SlackRejected as exc:
            if exc.code not in {"already_in_channel", "cant_invite_self"}:
                raise

    async def join(self, channel: str) -> None:
        await self._call("conversations.join", channel=channel)

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        *,
        thread_ts: str | None = None,
        marker: str | None = None,
    ) -> str:
        """Post once; returns the message's ts.

        The post carries `marker` (or a fresh one) in its metadata. When Slack's answer is lost
        (a dropped connection, a 5xx), the message may have been posted all the same, so Slack
        is asked for the marker before the post is tried again: found, it is the answer."""
        marker = marker or f"post#{secrets.token_hex(8)}"
        since = f"{time.time() - POST_LOOKBACK_S:.6f}"
        lost: Unavailable | None = None
        for attempt in range(1, POST_ATTEMPTS + 1):
            if lost is not None:
                await asyncio.sleep(0.5 * attempt)
                try:
                    found = await self.find_marked(
                        channel, marker, thread_ts=thread_ts, oldest=since
                    )
                except (Unavailable, Throttled):
                    continue  # still cannot tell whether it was posted: not posted again
                except SlackRejected:
                    raise lost from None  # cannot be looked up here (a DM): not posted again
                if found:
                    return found
            try:
                data = await self._call(
                    "chat.postMessage",
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": MARKER_EVENT, "event_payload": {"marker": marker}},
                )
                return str(data["ts"])
            except Unavailable as exc:
                lost = exc
        assert lost is not None
        raise lost

    async def find_marked(
        self, channel: str, marker: str, *, thread_ts: str | None, oldest: str
    ) -> str | None:
        """The ts of our message carrying `marker` (posted after `oldest`), or None."""
        if thread_ts:
            data = await self._call(
                "conversations.replies",
                channel=channel,
                ts=thread_ts,
                oldest=oldest,
                include_all_metadata=True,
                limit=200,
            )
        else:
            data = await self._call(
                "conversations.history",
                channel=channel,
                oldest=oldest,
                include_all_metadata=True,
                limit=200,
            )
        for message in data.get("messages") or []:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == MARKER_EVENT
                and (meta.get("event_payload") or {}).get("marker") == marker
            ):
                return str(message["ts"])
        return None

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: Blocks | None = None
    ) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def post_ephemeral(
        self, channel: str, user: str, text: str, blocks: Blocks | None = None
    ) -> None:
        await self._call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", channel=channel, timestamp=ts)
        except SlackRejected as exc:
            if exc.code != "already_pinned":
                raise

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call("views.open", trigger_id=trigger_id, view=view)

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message at `ts` in `channel` (top-level or a thread reply), or None."""
        data = await self._call(
            "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        messages = data.get("messages") or []
        if messages:
            return dict(messages[0])
        # A reply: its thread, narrowed to it (the thread's parent may still come first).
        data = await self._call(
            "conversations.replies",
            channel=channel,
            ts=ts,
            latest=ts,
            oldest=ts,
            inclusive=True,
            limit=2,
        )
        for message in data.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        return None

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            data = await self._call("chat.getPermalink", channel=channel, message_ts=ts)
        except SlackRejected:
            return None
        return str(data.get("permalink")) if data.get("permalink") else None

    async def upload_file(
        self,
        channel: str,
        filename: str,
        content: str | bytes,
        title: str,
        comment: str,
        *,
        thread_ts: str | None = None,
    ) -> None:
        """Text (`str`) is sent as UTF-8 bytes, its type named from `filename` (`snippet_type`:
        `markdown` for `.md`, else `text`), so Slack and every download read it as UTF-8."""
        kwargs: dict[str, Any] = (
            {"file": content}
            if isinstance(content, bytes)
            else {"content": content.encode("utf-8"), "snippet_type": snippet_type(filename)}
        )
        method = "files.completeUploadExternal"
        await self._take_budget(method, None)
        try:
            await self.client.files_upload_v2(
                channel=channel,
                filename=filename,
                title=title,
                **_drop_none({"initial_comment": comment or None, "thread_ts": thread_ts}),
                **kwargs,
            )
        except SlackApiError as exc:
            if exc.response.status_code >= 500:
                self.metrics.slack_call(method, "unavailable")
                raise Unavailable("Slack answered a server error to a file upload") from exc
            self._refused(method, _error_code(exc), channel)
            raise SlackRejected("files.uploadV2", _error_code(exc)) from exc
        except (ClientError, TimeoutError, OSError) as exc:
            self.metrics.slack_call(method, "unavailable")
            raise Unavailable("Slack could not be reached for a file upload") from exc
        self.metrics.slack_call(method, "ok")

    async def usergroup_members(self, group: str) -> list[str]:
        """User IDs in a user group (usergroups.users.list; needs `usergroups:read`)."""
        data = await self._call("usergroups.users.list", usergroup=group)
        return [str(u) for u in data.get("users") or []]

    async def display_name(self, user: str) -> str:
        """A person's display name for plain-text output (reports); their ID if Slack fails."""
        if user in self._names:
            return self._names[user]
        try:
            data = await self._call("users.info", user=user)
        except (SlackRejected, Throttled, Unavailable):
            return user
        profile = data.get("user", {}).get("profile", {})
        name = str(
            profile.get("display_name") or profile.get("real_name") or data["user"].get("name")
        )
        self._names[user] = name
        return name


def _error_code(exc: SlackApiError) -> str:
    """Slack's error code; a 5xx from a proxy may have no JSON body at all."""
    data = exc.response.data
    return str(data.get("error", "unknown_error")) if isinstance(data, dict) else "unknown_error"


def _drop_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def snippet_type(filename: str) -> str:
    """Slack's type for a text file Fireline uploads: Markdown for reports, text otherwise."""
    return "markdown" if filename.lower().endswith(".md") else "text"
