"""GETs over aiohttp, on the event loop: `KubeGateway`'s reads and `PrometheusGateway`'s queries.

The official client is blocking: each read through it pays a worker thread, the GIL handed
over twice, and http.client's header parsing; about 0.44 ms of CPU a read against 0.11 ms
here (measured on the same double). `diagnose` makes 15 reads at once, and the answers arrive
together, so that CPU lands after the slowest answer: through the client, a diagnosis took
1.35-1.4x its slowest read; over this, the reads alone took 1.05-1.08x
(docs/decisions/kubernetes-reads.md).

The request itself is still the client's: `ApiClient.param_serialize` builds the URL and the
auth headers (bearer tokens, refreshed by the kubeconfig's exec plugin or the in-cluster
token file). What is done here is what the client's pool would do with the kubeconfig's TLS
settings: the cluster's CA (file or data), a client certificate, `insecure-skip-tls-verify`,
and the server name to verify. A kubeconfig with a proxy or socket options is not handled
here: the gateway reads through the client for it (`ReadTransport.for_settings` says None).

One `aiohttp.ClientSession` per event loop (the gateway may be used from more than one, as
tests do), made on first use and closed by `aclose`.

Prometheus's queries come here too (they went through httpx at ~0.74 ms of CPU a request
against ~0.11 ms here; `diagnose` makes two beside its Kubernetes reads): with the system's
CA store, and the proxy settings of the environment (`HTTPS_PROXY`, `NO_PROXY`) honoured as
httpx honoured them (`trust_env`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp


class TooLong(Exception):
    """An answer longer than the caller would read."""


@dataclass(frozen=True)
class TlsSettings:
    """The kubeconfig's TLS settings, as the client's `Configuration` holds them."""

    verify: bool = True
    ca_file: str | None = None
    ca_data: str | bytes | None = None
    """PEM text, or DER bytes."""
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    """The name the server's certificate must carry (`tls-server-name`), if not the host's."""
    check_hostname: bool = True


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """An SSL context as the client's urllib3 pool would build it from the same settings."""
    context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca_data)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not tls.check_hostname:
        context.check_hostname = False
    return context


class ReadTransport:
    """GETs for one server, `at_once` connections at most per event loop; `trust_env` takes
    a proxy from the environment (a kubeconfig says its own)."""

    def __init__(self, tls: TlsSettings, *, at_once: int, trust_env: bool = False) -> None:
        self.tls = tls
        self.at_once = at_once
        self.trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    async def get(
        self, url: str, headers: dict[str, str], timeout_s: float, *, max_bytes: int | None = None
    ) -> tuple[int, bytes]:
        """The status and body of a GET; aiohttp's errors and `TimeoutError` are the caller's
        to map. `max_bytes`: a body longer than this is not read further (`TooLong`)."""
        kwargs = {"server_hostname": self.tls.server_name} if self.tls.server_name else {}
        async with self._session().get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        ) as response:
            if max_bytes is None:
                return response.status, await response.read()
            body = bytearray()
            while chunk := await response.content.read(max_bytes + 1 - len(body)):
                body += chunk
                if len(body) > max_bytes:
                    raise TooLong(f"an answer longer than {max_bytes} bytes")
            return response.status, bytes(body)

    @asynccontextmanager
    async def stream(
        self, url: str, headers: dict[str, str], read_timeout_s: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A GET whose body is read as it comes (a watch): no limit on the whole, but a silence
        longer than `read_timeout_s` ends it with `TimeoutError`."""
        kwargs = {"server_hostname": self.tls.server_name} if self.tls.server_name else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30.0, sock_read=read_timeout_s)
        async with self._session().get(
            url,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        ) as response:
            yield response

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            if self._ssl is None:
                self._ssl = ssl_context(self.tls)
            connector = aiohttp.TCPConnector(limit=self.at_once, ssl=self._ssl)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, trust_env=self.trust_env
            )
            self._sessions[loop] = session
        return session

    async def aclose(self) -> None:
        """Close the session of the running loop (those of closed loops are dropped)."""
        loop = asyncio.get_running_loop()
        for owner, session in list(self._sessions.items()):
            if owner is loop:
                await session.close()
            if owner is loop or owner.is_closed():
                del self._sessions[owner]
