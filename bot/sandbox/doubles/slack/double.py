"""``SlackDouble``: a Slack workspace and Web API served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from bot.sandbox.doubles.slack.api import WebApi
from bot.sandbox.doubles.slack.clock import Clock, IdFactory
from bot.sandbox.doubles.slack.delivery import AppConfig, Deliverer
from bot.sandbox.doubles.slack.faults import Fault, FaultInjector, Hold
from bot.sandbox.doubles.slack.methods import ApiContext
from bot.sandbox.doubles.slack.methods.conversations import validate_channel_name
from bot.sandbox.doubles.slack.methods.views import render_view
from bot.sandbox.doubles.slack.ratelimit import RateLimiter, RateLimits
from bot.sandbox.doubles.slack.records import CallRecord, Delivery, Ephemeral, ResponseUrlPost
from bot.sandbox.doubles.slack.reference import MethodCatalog
from bot.sandbox.doubles.slack.response_urls import ResponseUrls
from bot.sandbox.doubles.slack.server import DoubleServer
from bot.sandbox.doubles.slack.socket_mode import SocketHub
from bot.sandbox.doubles.slack.user_actions import UserActionsMixin
from bot.sandbox.doubles.slack.workspace import User, Usergroup, Workspace


class SlackDouble(UserActionsMixin):
    """A stateful Slack double: Web API, response_urls, file uploads and Socket Mode.

    Start it with ``async with SlackDouble() as d`` (in the caller's loop) or
    ``d.start_in_thread()`` / ``d.stop()`` (own loop in a daemon thread). Point clients at
    ``AsyncWebClient(token=d.bot_token, base_url=d.api_url)``.
    """

    def __init__(
        self,
        *,
        request_url: str | None = None,
        signing_secret: str = "double-signing-secret",
        socket_mode: bool = False,
        rate_limits: RateLimits | None = None,
        clock: Clock = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        team_name: str = "Fireline Test",
        team_domain: str = "fireline-test",
        bot_name: str = "fireline",
        bot_token: str | None = None,
        app_token: str | None = None,
        ack_timeout: float = 3.0,
        catalog: MethodCatalog | None = None,
    ) -> None:
        self.ids = IdFactory(clock)
        self.ws = Workspace(
            self.ids, team_name=team_name, team_domain=team_domain, bot_name=bot_name
        )
        self.bot_token = bot_token or self.ids.new_token("xoxb")
        self.app_token = app_token or self.ids.new_token("xapp")
        if not self.app_token.startswith("xapp-"):
            raise ValueError("app-level tokens start with xapp-")
        self.app = AppConfig(request_url, signing_secret, socket_mode)
        self.faults = FaultInjector()
        self.limiter = RateLimiter(rate_limits or RateLimits.off(), monotonic)
        self._hub = SocketHub(self.ws, lambda: self.base_url, ack_timeout)
        self._responses = ResponseUrls(self.ws, lambda: self.base_url)
        self._deliverer = Deliverer(self.app, self._hub)
        ctx = ApiContext(self.ws, "", self._hub.new_url)
        self._api = WebApi(
            ctx,
            catalog or MethodCatalog(),
            self.limiter,
            self.faults,
            {self.bot_token: "bot", self.app_token: "app"},
        )
        self._server = DoubleServer(
            self.ws, self._api, self._responses, self._hub, self._started, self._deliverer.close
        )
        general = self.ws.add_channel("general", is_general=True)
        self.general_channel_id = general.id

    # -- lifecycle ---------------------------------------------------------------------------
    async def _started(self) -> None:
        self._api.ctx.public_url = self.base_url
        await self._deliverer.start()

    async def start(self) -> Self:
        await self._server.start()
        return self

    async def aclose(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_in_thread(self) -> Self:
        """Serve from a daemon thread with its own event loop; stop with :meth:`stop`."""
        self._server.start_in_thread()
        return self

    def stop(self) -> None:
        """Stop a double started with :meth:`start_in_thread`."""
        self._server.stop_thread()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def api_url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)``; ends with ``/api/``."""
        return f"{self.base_url}api/"

    # -- identities --------------------------------------------------------------------------
    @property
    def team_id(self) -> str:
        return self.ws.team.id

    @property
    def bot_user_id(self) -> str:
        return self.ws.bot_user.id

    @property
    def bot_id(self) -> str:
        return self.ws.bot_id

    @property
    def app_id(self) -> str:
        return self.ws.app_id

    @property
    def request_url(self) -> str | None:
        return self.app.request_url

    @request_url.setter
    def request_url(self, url: str | None) -> None:
        self.app.request_url = url

    # -- workspace setup ---------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        join_general: bool = True,
    ) -> str:
        with self.ws.lock:
            user = User(
                self.ids.new_id("U"),
                name,
                real_name or name.title(),
                display_name if display_name is not None else name,
                self.team_id,
                email=email or f"{name}@{self.ws.team.domain}.example",
                is_admin=is_admin,
            )
            self.ws.users[user.id] = user
            if join_general:
                self.ws.channels[self.general_channel_id].members.append(user.id)
            return user.id

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        bot_member: bool = True,
    ) -> str:
        with self.ws.lock:
            validate_channel_name(name)
            member_ids = list(members)
            for uid in member_ids:
                self.ws.user(uid)
            if bot_member:
                member_ids.insert(0, self.bot_user_id)
            return self.ws.add_channel(name, members=member_ids, is_private=is_private).id

    def add_usergroup(self, handle: str, users: Iterable[str], name: str | None = None) -> str:
        with self.ws.lock:
            group = Usergroup(
                self.ids.new_id("S"), handle, name or handle, self.team_id, list(users)
            )
            self.ws.usergroups[group.id] = group
            return group.id

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        error: str | None = None,
        status: int = 200,
        drop: bool = False,
        retry_after: int = 1,
        lost_answer: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any) fail.

        ``error`` -> ``{"ok": false, "error": error}`` with HTTP ``status``; ``status`` >= 500
        alone -> a bare 5xx; ``drop`` -> connection closed without an answer; ``lost_answer``
        -> the call is carried out, then the connection closed without an answer.
        """
        if error is None and status < 400 and not drop and not lost_answer:
            raise ValueError("give an error code, an HTTP error status, drop or lost_answer")
        self.faults.add(
            method,
            Fault(error, status, drop, retry_after=retry_after, lost_answer=lost_answer),
            times,
        )

    def hold_next(self, method: str) -> Hold:
        """Keep the next call of ``method`` waiting until the returned hold is released (a
        slow Slack the test controls, for work caught in flight)."""
        hold = Hold()
        self.faults.add(method, Fault(hold=hold))
        return hold

    # -- assertions --------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[CallRecord]:
        return self._api.calls(method)

    def ephemerals(
        self, user_id: str | None = None, channel_id: str | None = None
    ) -> list[Ephemeral]:
        with self.ws.lock:
            return [
                e
                for e in self.ws.ephemerals
                if (user_id is None or e.user_id == user_id)
                and (channel_id is None or e.channel_id == channel_id)
            ]

    def messages(self, channel_id: str, *, include_replies: bool = False) -> list[dict[str, Any]]:
        """Messages of a conversation, oldest first."""
        with self.ws.lock:
            ch = self.ws.channel(channel_id)
            return [m.to_dict() for m in ch.messages.values() if include_replies or not m.is_reply]

    def message(self, channel_id: str, ts: str) -> dict[str, Any]:
        with self.ws.lock:
            return self.ws.message(self.ws.channel(channel_id), ts).to_dict()

    def thread(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        with self.ws.lock:
            ch = self.ws.channel(channel_id)
            root = self.ws.message(ch, ts)
            return [root.to_dict()] + [ch.messages[r].to_dict() for r in root.replies]

    def channel(self, channel_id: str) -> dict[str, Any]:
        with self.ws.lock:
            info = self.ws.channel(channel_id).to_dict(self.bot_user_id)
            info["members"] = list(self.ws.channel(channel_id).members)
            return info

    def channel_id(self, name: str) -> str:
        with self.ws.lock:
            return self.ws.channel(name).id

    def file_content(self, file_id: str) -> bytes:
        with self.ws.lock:
            content = self.ws.files[file_id].content
        if content is None:
            raise LookupError(f"file {file_id} has no uploaded content")
        return content

    def file_ids(self) -> list[str]:
        with self.ws.lock:
            return [f.id for f in self.ws.files.values() if f.completed]

    def on_call(self, listener: Callable[[CallRecord], None]) -> None:
        """Call `listener` after every Web API call the double answers (from its loop)."""
        self._api.listeners.append(listener)

    def on_response_url(self, listener: Callable[[ResponseUrlPost], None]) -> None:
        """Call `listener` after every response_url post the double applies (from its loop):
        the app's answers after the ack, which no Web API call announces."""
        self._responses.listeners.append(listener)

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, root first."""
        with self.ws.lock:
            return [
                render_view(self.ws, self.ws.views[v]) for v in self.ws.view_stacks.get(user_id, [])
            ]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self.ws.lock:
            vid = self.ws.home_views.get(user_id)
            return render_view(self.ws, self.ws.views[vid]) if vid else None

    @property
    def response_url_posts(self) -> list[ResponseUrlPost]:
        return list(self._responses.posts)

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self._deliverer.log)

    @property
    def socket_envelopes(self) -> list[dict[str, Any]]:
        return list(self._hub.envelopes)

    async def wait_for_socket(self) -> None:
        """Wait until the app has a Socket Mode connection open (wrap in asyncio.timeout)."""
        await self._on_loop(self._hub.wait_connected())
