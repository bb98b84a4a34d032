"""Fireline's link to Slack: whether Slack answers the bot token (`auth.test`, remembered for
a minute), the Socket Mode connection, and the retry loop while either is missing.

A change of state is logged once (out of reach, refused, answering again); a token Slack will
never accept stops start-up with one line naming the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.app.console import token_refused
from bot.errors import ConfigurationError, FirelineError, SlackRejected, TemporaryError
from bot.gateways.slack import SlackGateway
from bot.incidents.service import IncidentService
from bot.runtime.inflight import InFlight
from bot.settings import Settings

log = logging.getLogger(__name__)

SocketListener = Callable[[Any, Any], Awaitable[None]]
"""A Socket Mode request listener (slack_sdk's client and request: typed loosely, since only
the Slack gateway imports slack_sdk)."""
SLACK_CHECK_TTL_S = 60.0
SLACK_RETRY_FIRST_S = 1.0
SLACK_RETRY_MAX_S = 30.0
"""While Slack cannot be reached: tried again after 1 s, doubling up to every 30 s."""
TOKEN_REFUSED = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed"})
"""Slack's answers to a token that will never work: start-up stops and names the setting."""


class SlackLink:
    def __init__(
        self,
        settings: Settings,
        slack: SlackGateway,
        incidents: IncidentService,
        bolt: AsyncApp,
        inflight: InFlight | None = None,
    ) -> None:
        self.settings = settings
        self.slack = slack
        self.incidents = incidents
        self.bolt = bolt
        self.socket: AsyncSocketModeHandler | None = None
        self.inflight = inflight
        self._ok_at = 0.0
        self._trouble: str | None = None
        """What is wrong with Slack, once said (logged again only when it changes)."""

    @property
    def events_arrive(self) -> bool:
        """Socket Mode: events arrive only once the socket is connected."""
        return self.settings.slack_app_token is None or self.socket is not None

    async def check(self, *, refusal_stops: bool = False) -> bool:
        """Slack answers our bot token (`auth.test`, remembered for a minute). A change of
        state is logged once: out of reach, refused, answering again. `refusal_stops` (at
        start-up): a refused token raises ConfigurationError instead."""
        if time.monotonic() - self._ok_at < SLACK_CHECK_TTL_S:
            return True
        try:
            identity = await self.slack.auth_test()
        except SlackRejected as exc:
            if exc.code in TOKEN_REFUSED and refusal_stops:
                raise ConfigurationError(token_refused("SLACK_BOT_TOKEN", exc.code)) from None
            if exc.code in TOKEN_REFUSED:
                self._says(logging.ERROR, token_refused("SLACK_BOT_TOKEN", exc.code))
            else:
                self._says(logging.WARNING, f"Slack answered auth.test with {exc.code}")
            return False
        except FirelineError as exc:
            self._says(
                logging.WARNING,
                f"Slack cannot be reached at {self.settings.slack_api_base} ({exc}); Fireline "
                "keeps trying, and /readyz answers 503 until Slack answers",
            )
            return False
        self.incidents.bot_user_id = str(identity.get("user_id") or "") or None
        self._ok_at = time.monotonic()
        if self._trouble is not None:
            self._trouble = None
            log.info("Slack answers again")
        return True

    def _says(self, level: int, trouble: str) -> None:
        if trouble != self._trouble:
            self._trouble = trouble
            log.log(level, "%s", trouble)

    async def connect_socket(self, *, refusal_stops: bool = False) -> bool:
        """Socket Mode: ask for a WebSocket URL with the app token, then connect with it.
        True when connected or not in Socket Mode; False while that cannot be done."""
        if self.settings.slack_app_token is None or self.socket is not None:
            return True
        token = self.settings.slack_app_token.get_secret_value()
        try:
            url = await self.slack.open_connection(token)
        except SlackRejected as exc:
            refused = exc.code in TOKEN_REFUSED or exc.code == "not_allowed_token_type"
            if refused and refusal_stops:
                raise ConfigurationError(token_refused("SLACK_APP_TOKEN", exc.code)) from None
            if refused:
                self._says(logging.ERROR, token_refused("SLACK_APP_TOKEN", exc.code))
            else:
                self._says(logging.WARNING, f"Slack refused a Socket Mode URL: {exc.code}")
            return False
        except TemporaryError as exc:
            self._says(
                logging.WARNING,
                f"Slack Socket Mode cannot be reached ({exc}); Fireline keeps trying, and "
                "/readyz answers 503 until it connects",
            )
            return False
        handler = AsyncSocketModeHandler(self.bolt, token)
        handler.client.socket_mode_request_listeners[:] = [self._taking(handler)]
        # slack_sdk asks for a URL itself when it has none, and on failure retries forever,
        # logging a traceback each time; this one was just issued, and its failures are ours.
        handler.client.wss_uri = url
        await handler.connect_async()  # type: ignore[no-untyped-call]
        self.socket = handler
        return True

    def _taking(self, handler: AsyncSocketModeHandler) -> SocketListener:
        """Bolt's envelope listener, but once shutdown began an envelope is left unacknowledged
        (Slack delivers it again, to a connection that stays) instead of started here."""

        async def listener(client: Any, request: Any) -> None:
            if self.inflight is not None and not self.inflight.accepting:
                return
            await handler.handle(client, request)

        return listener

    async def until_answers(self) -> None:
        """Started when Slack could not be reached at start-up: try again (back-off doubling
        to 30 s) until it answers, Socket Mode included."""
        delay = SLACK_RETRY_FIRST_S
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SLACK_RETRY_MAX_S)
            if await self.check() and await self.connect_socket():
                log.info("Fireline is ready: Slack answers")
                return

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
            self.socket = None
