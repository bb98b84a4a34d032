"""The Kubernetes gateway: the only module that calls the `kubernetes` client.

Every request is built by the client's own `ApiClient` (its kubeconfig, token refresh and URL
handling). Reads are then made on the event loop over aiohttp (`bot.gateways.http_reads`,
with the kubeconfig's TLS settings), which costs a quarter of the CPU of a read through the
client and no thread: `diagnose` makes 15 reads at once (its lists, and the logs of 5 pods),
and their answers arrive together (docs/decisions/kubernetes-reads.md). A kubeconfig with a
proxy or socket options is read through the client's blocking pool instead, as are the few
writes: in a worker pool of its own (`CALLS_AT_ONCE` threads, shared by every cluster's
gateway), not the event loop's default one (`cpu_count + 4` threads), and through a
connection pool as large. Reads return the API server's JSON as plain dicts: diagnostics read
the stable Kubernetes REST shapes (`status.containerStatuses`…), not one client version's
Python models.

Errors are mapped to Fireline's (404 → `NotFound`, 403 → `Forbidden`, 409 → `Conflict`,
429 → `Throttled`, 5xx/connection/timeout → `Unavailable`), raised `from` the original.
Only temporary errors are retried (the gateways' policy, `bot.gateways.retry`), and only
for reads. The few writes
(remediation: patch, scale, delete) always carry a resourceVersion precondition, take a
dry-run flag, and are never retried; a refused write names the RBAC verb and resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import should_bypass_proxies
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from bot.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    Throttled,
    Unavailable,
)
from bot.gateways import messages, pod_watch
from bot.gateways.http_reads import ReadTransport, TlsSettings, TooLong
from bot.gateways.pod_watch import READ_MARGIN_S, Expired, PodWatch, TooMany
from bot.gateways.retry import with_retries
from bot.policy.models import Cluster

Obj = dict[str, Any]
T = TypeVar("T")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ATTEMPTS = 3
CALLS_AT_ONCE = 32
MAX_WATCHES = 16
"""Namespaces whose pods one cluster's gateway keeps by a watch, at most (one connection each)."""
WATCH_LINE_BYTES = 8 * 1024 * 1024
"""A watch event longer than this ends the watch (an object is at most ~1.5 MB in etcd)."""
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _calls() -> ThreadPoolExecutor:
    """The threads the blocking client runs in: one bounded pool for the process (made on
    first use), so gateways made per test or per cluster do not each keep threads."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(CALLS_AT_ONCE, thread_name_prefix="kubernetes")
        return _executor


PARSE_ON_LOOP_BYTES = 16 * 1024
"""A log this short is parsed on the loop: a worker thread costs a GIL hand-over each way, and
while it parses, the loop waits up to the switch interval (5 ms) for each answer that arrives.
Parsing 16 KiB takes 1-3 ms on typical lines, ~6 ms on JSON lines (each distinct) and ~10 ms
at worst (a secret to redact every few words): bounded, and a longer log goes to a thread
(docs/decisions/kubernetes-reads.md)."""


async def _in_thread(call: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_calls(), call, *args)


MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def api_client_for(cluster: Cluster) -> k8s.ApiClient:
    """An ApiClient for a policy cluster: its kubeconfig context, or the in-cluster account."""
    try:
        if cluster.in_cluster:
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s.ApiClient(configuration)
        api: k8s.ApiClient = k8s_config.new_client_from_config(context=cluster.context)  # type: ignore[no-untyped-call]
        return api
    except (k8s_config.ConfigException, OSError) as exc:
        raise ConfigurationError(f"Kubernetes cluster configuration unusable: {exc}") from exc


class KubeGateway:
    """Access to one cluster (reads, and the guarded remediation writes); all coroutines."""

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_s: float = 0.2,
        keep_pods: bool = False,
    ) -> None:
        """`keep_pods`: a namespace `keep_pods_of` is told of is watched from then on (the
        bot's gateways; a gateway made for one task keeps nothing)."""
        self.api = api
        self.keep_pods = keep_pods
        pool = getattr(api.rest_client, "pool_manager", None)
        if pool is not None:
            kw = pool.connection_pool_kw
            kw["maxsize"] = max(int(kw.get("maxsize") or 1), CALLS_AT_ONCE)
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._reads = _read_transport(api.configuration, CALLS_AT_ONCE)
        # Watches hold their connections for minutes: a pool of their own, so they never
        # take one a read is waiting for.
        self._watch_reads = _read_transport(api.configuration, MAX_WATCHES)
        self._watches: OrderedDict[str, tuple[PodWatch, asyncio.Task[None]]] = OrderedDict()
        """Least recently read first."""
        self._closed = False

    async def aclose(self) -> None:
        """Stop the watches and close the connections made on the running loop; no watch
        starts after it."""
        self._closed = True
        loop = asyncio.get_running_loop()
        for namespace, (_watch, task) in list(self._watches.items()):
            if task.get_loop() is loop:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if task.get_loop() is loop or task.get_loop().is_closed():
                del self._watches[namespace]
        for transport in (self._reads, self._watch_reads):
            if transport is not None:
                await transport.aclose()

    # --- watched pods ------------------------------------------------------------------------

    def watch_pods(self, namespace: str) -> PodWatch | None:
        """Keep the namespace's pods current from now on, on the running loop, until `aclose`
        (bot/gateways/pod_watch.py). Once per namespace; at most `MAX_WATCHES` at a time, the
        least recently read one stopped to make room; none when reads go through the client
        (a kubeconfig with a proxy) or once the gateway is closed."""
        if self._closed or self._watch_reads is None:
            return None
        loop = asyncio.get_running_loop()
        known = self._watches.get(namespace)
        if known is not None:
            if not known[1].done() and known[1].get_loop() is loop:
                return known[0]
            _stop(known[1])  # ended, or on another loop: started again here
            del self._watches[namespace]
        while len(self._watches) >= MAX_WATCHES:
            _, (_old, task) = self._watches.popitem(last=False)
            _stop(task)
        watch = PodWatch(
            namespace,
            partial(self._pods_listed, namespace),
            partial(self._pod_events, namespace),
            room=lambda: (
                pod_watch.BYTES_BUDGET
                - sum(w.kept_bytes for w, _ in self._watches.values() if w is not watch)
            ),
        )
        task = loop.create_task(watch.run(), name=f"pod-watch {namespace}")
        self._watches[namespace] = (watch, task)
        return watch

    def keep_pods_of(self, namespace: str) -> None:
        """A namespace has just been looked into (a deployment found there): watched from now
        on when this gateway keeps pods."""
        if self.keep_pods:
            self.watch_pods(namespace)

    def watched_pods(self, namespace: str) -> list[Obj] | None:
        """The namespace's pods as its watch keeps them; None when none keeps them current
        (the caller lists them)."""
        known = self._watches.get(namespace)
        if known is None or known[1].done() or known[1].get_loop().is_closed():
            return None
        self._watches.move_to_end(namespace)
        return known[0].pods()

    async def _pods_listed(self, namespace: str, max_bytes: int) -> tuple[list[Any], str, int]:
        path = f"/api/v1/namespaces/{_q(namespace)}/pods"
        try:
            raw = await with_retries(
                lambda: self._get_on_loop(path, [], "application/json", max_bytes=max_bytes),
                attempts=self.attempts,
                backoff_s=self.backoff_s,
            )
        except TooLong:
            raise TooMany from None
        body = orjson.loads(raw)
        if not isinstance(body, dict) or body.get("kind") != "PodList":
            raise ValueError(f"Kubernetes answered {path} with something not a PodList")
        items = body.get("items")
        meta = body.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if not isinstance(items, list) or not isinstance(version, str):
            raise ValueError(f"Kubernetes answered {path} with a PodList without items or version")
        return items, version, len(raw)

    @asynccontextmanager
    async def _pod_events(
        self, namespace: str, version: str, timeout_s: int
    ) -> AsyncIterator[AsyncIterator[tuple[Any, int]]]:
        assert self._watch_reads is not None
        path = f"/api/v1/namespaces/{_q(namespace)}/pods"
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout_s),
        ]
        url, headers = await self._request_line(path, query, "application/json")
        try:
            async with self._watch_reads.stream(url, headers, timeout_s + READ_MARGIN_S) as got:
                if got.status == 410:
                    raise Expired
                if got.status != 200:
                    raise _map_status(got.status, path, await got.content.read(200))
                yield _watch_events(got.content)
        except TimeoutError as exc:
            raise Unavailable(f"Kubernetes went silent on the watch of {path}") from exc
        except (aiohttp.ClientError, ssl.SSLError) as exc:
            raise Unavailable(f"Kubernetes ended the watch of {path}") from exc

    # --- typed reads -------------------------------------------------------------------------

    async def list_pods(self, namespace: str, selector: str | None = None) -> list[Obj]:
        return await self._items(f"/api/v1/namespaces/{_q(namespace)}/pods", selector=selector)

    async def get_pod(self, namespace: str, name: str) -> Obj:
        return await self.get_json(f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}")

    async def list_deployments(self, namespace: str) -> list[Obj]:
        return await self._items(f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments")

    async def get_deployment(self, namespace: str, name: str) -> Obj:
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments/{_q(name)}"
        return await self.get_json(path)

    async def list_replicasets(self, namespace: str, selector: str | None) -> list[Obj]:
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/replicasets"
        return await self._items(path, selector=selector)

    async def list_events(self, namespace: str, involved: str | None = None) -> list[Obj]:
        fields = f"involvedObject.name={involved}" if involved else None
        path = f"/api/v1/namespaces/{_q(namespace)}/events"
        return await self._items(path, field_selector=fields)

    async def list_hpas(self, namespace: str) -> list[Obj]:
        path = f"/apis/autoscaling/v2/namespaces/{_q(namespace)}/horizontalpodautoscalers"
        return await self._items(path)

    async def list_services(self, namespace: str) -> list[Obj]:
        return await self._items(f"/api/v1/namespaces/{_q(namespace)}/services")

    async def get_endpoints(self, namespace: str, name: str) -> Obj:
        return await self.get_json(f"/api/v1/namespaces/{_q(namespace)}/endpoints/{_q(name)}")

    async def pod_metrics(self, namespace: str, selector: str | None = None) -> list[Obj]:
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{_q(namespace)}/pods"
        return await self._items(path, selector=selector)

    async def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        since_s: int | None = None,
        previous: bool = False,
        tail_lines: int = 200,
        limit_bytes: int = 64 * 1024,
    ) -> str:
        return await self.pod_log_as(
            _text,
            namespace,
            pod,
            container=container,
            since_s=since_s,
            previous=previous,
            tail_lines=tail_lines,
            limit_bytes=limit_bytes,
        )

    async def pod_log_as(
        self,
        parse: Callable[[str], T],
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        since_s: int | None = None,
        previous: bool = False,
        tail_lines: int = 200,
        limit_bytes: int = 64 * 1024,
    ) -> T:
        """A container's log, given to `parse`: on the loop when it is short (at most
        `PARSE_ON_LOOP_BYTES`), else in a worker thread (and in the thread that read it when
        the read is made through the client)."""
        # Timestamps on every line: first/last seen of an error pattern come from them.
        query: list[tuple[str, Any]] = [
            ("tailLines", tail_lines),
            ("limitBytes", limit_bytes),
            ("timestamps", "true"),
        ]
        if container:
            query.append(("container", container))
        if since_s:
            query.append(("sinceSeconds", since_s))
        if previous:
            query.append(("previous", "true"))
        path = f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(pod)}/log"
        if self._reads is not None:
            raw = await self._get(path, query, accept="text/plain")
            text = raw.decode("utf-8", errors="replace")
            if parse is _text or len(raw) <= PARSE_ON_LOOP_BYTES:
                return parse(text)
            return await _in_thread(parse, text)

        def read() -> T:
            raw = self._get_blocking(path, query, "text/plain")
            return parse(raw.decode("utf-8", errors="replace"))

        return await with_retries(
            lambda: _in_thread(read), attempts=self.attempts, backoff_s=self.backoff_s
        )

    # --- plumbing ----------------------------------------------------------------------------

    async def _items(
        self, path: str, *, selector: str | None = None, field_selector: str | None = None
    ) -> list[Obj]:
        query: list[tuple[str, Any]] = []
        if selector:
            query.append(("labelSelector", selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        body = await self.get_json(path, query)
        return list(body.get("items") or [])

    async def get_json(self, path: str, query: list[tuple[str, Any]] | None = None) -> Obj:
        raw = await self._get(path, query or [], accept="application/json")
        try:
            # orjson: about twice as fast as json on a namespace's pods (0.7 vs 1.4 ms for 70),
            # and diagnose decodes six lists at once on the event loop.
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Unavailable(f"Kubernetes answered {path} with something not JSON") from exc
        return data if isinstance(data, dict) else {}

    async def _get(self, path: str, query: list[tuple[str, Any]], *, accept: str) -> bytes:
        read = (
            (lambda: self._get_on_loop(path, query, accept))
            if self._reads is not None
            else (lambda: _in_thread(self._get_blocking, path, query, accept))
        )
        return await with_retries(read, attempts=self.attempts, backoff_s=self.backoff_s)

    async def _request_line(
        self, path: str, query: list[tuple[str, Any]], accept: str
    ) -> tuple[str, dict[str, str]]:
        """A GET's URL and headers, as the client makes them; refreshing a token may run the
        kubeconfig's exec plugin or read a file, so that is done in a thread when it can."""
        serialize = self.api.param_serialize
        args = ("GET", path)
        kwargs: dict[str, Any] = {
            "query_params": query,
            "header_params": {"Accept": accept},
            "auth_settings": ["BearerToken"],
        }
        if self.api.configuration.refresh_api_key_hook is not None:
            _method, url, headers, _body, _post = await _in_thread(
                lambda: serialize(*args, **kwargs)
            )
        else:
            _method, url, headers, _body, _post = serialize(*args, **kwargs)
        return url, headers

    async def _get_on_loop(
        self,
        path: str,
        query: list[tuple[str, Any]],
        accept: str,
        *,
        max_bytes: int | None = None,
    ) -> bytes:
        assert self._reads is not None
        url, headers = await self._request_line(path, query, accept)
        try:
            status, data = await self._reads.get(url, headers, self.timeout_s, max_bytes=max_bytes)
        except TimeoutError as exc:
            raise Unavailable(
                f"Kubernetes did not answer {path} within {self.timeout_s:g} s"
            ) from exc
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise Unavailable(f"Kubernetes could not be reached for {path}") from exc
        if status >= 400:
            raise _map_status(status, path, data)
        return data

    def _get_blocking(self, path: str, query: list[tuple[str, Any]], accept: str) -> bytes:
        return self._request_blocking("GET", path, query, accept)

    def _request_blocking(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]],
        accept: str,
        body: Any = None,
        content_type: str | None = None,
        verb: str = "get",
    ) -> bytes:
        # The client's ApiClient builds the URL and auth headers and owns the connection pool
        # (TLS, proxy); the request itself is made with urllib3's retries off, so the gateways'
        # policy (`bot.gateways.retry`) is the only retry layer (the REST client would
        # otherwise retry read timeouts 3 times).
        headers_in = {"Accept": accept}
        if content_type:
            headers_in["Content-Type"] = content_type
        try:
            _method, url, headers, _body, _post = self.api.param_serialize(
                method,
                path,
                query_params=query,
                header_params=headers_in,
                auth_settings=["BearerToken"],
            )
            response = self.api.rest_client.pool_manager.request(
                method,
                url,
                headers=headers,
                body=orjson.dumps(body) if body is not None else None,
                timeout=urllib3.Timeout(total=self.timeout_s),
                retries=False,
            )
            data: bytes = response.data
            status: int = response.status
        except ApiException as exc:
            raise _map_status(int(exc.status or 0), path, verb=verb) from exc
        except (Urllib3Error, OSError) as exc:
            raise Unavailable(
                f"Kubernetes did not answer {path} within {self.timeout_s:g} s"
                if isinstance(exc, Urllib3TimeoutError)
                else f"Kubernetes could not be reached for {path}"
            ) from exc
        if status >= 400:
            raise _map_status(status, path, data, verb=verb)
        return data

    # --- writes (remediation) ----------------------------------------------------------------
    # Never retried: a write that timed out may have been applied, so the caller re-reads
    # instead. Every write takes `dry_run` (dryRun=All: validated and answered, nothing kept)
    # and a resourceVersion precondition, so a target changed since the preview is a 409.

    async def patch_deployment(
        self,
        namespace: str,
        name: str,
        patch: Obj | list[Obj],
        *,
        resource_version: str,
        dry_run: bool,
    ) -> Obj:
        """A merge patch (a dict) or a JSON patch (a list of operations), applied only if the
        deployment still has `resource_version` (409 `Conflict` otherwise)."""
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments/{_q(name)}"
        if isinstance(patch, list):
            rv = {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version}
            return await self._write("PATCH", path, [rv, *patch], dry_run, JSON_PATCH, "patch")
        meta = {**patch.get("metadata", {}), "resourceVersion": resource_version}
        return await self._write(
            "PATCH", path, {**patch, "metadata": meta}, dry_run, MERGE_PATCH, "patch"
        )

    async def scale_deployment(
        self, namespace: str, name: str, replicas: int, *, resource_version: str, dry_run: bool
    ) -> Obj:
        body = {"metadata": {"resourceVersion": resource_version}, "spec": {"replicas": replicas}}
        path = f"/apis/apps/v1/namespaces/{_q(namespace)}/deployments/{_q(name)}/scale"
        return await self._write("PATCH", path, body, dry_run, MERGE_PATCH, "patch")

    async def delete_pod(
        self, namespace: str, name: str, *, uid: str, resource_version: str, dry_run: bool
    ) -> Obj:
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
        }
        path = f"/api/v1/namespaces/{_q(namespace)}/pods/{_q(name)}"
        return await self._write("DELETE", path, body, dry_run, "application/json", "delete")

    async def _write(
        self,
        method: str,
        path: str,
        body: Obj | list[Obj],
        dry_run: bool,
        content_type: str,
        verb: str,
    ) -> Obj:
        query: list[tuple[str, Any]] = [("dryRun", "All")] if dry_run else []
        raw = await _in_thread(
            self._request_blocking,
            method,
            path,
            query,
            "application/json",
            body,
            content_type,
            verb,
        )
        try:
            data = orjson.loads(raw)
        except ValueError as exc:
            raise Unavailable(f"Kubernetes answered {path} with something not JSON") from exc
        return data if isinstance(data, dict) else {}


def _map_status(status: int, path: str, body: bytes = b"", *, verb: str = "get") -> Exception:
    if status == 404:
        return NotFound(f"Kubernetes has no {path.rsplit('/', 2)[-2:]}")
    if status == 403 and verb != "get":
        namespace, resource = _rbac_target(path)
        return Forbidden(messages.kube_write_forbidden(verb, resource, namespace))
    if status in (401, 403):
        return Forbidden(f"Kubernetes refused Fireline's credentials for {path} ({status})")
    if status == 409:
        return Conflict(f"Kubernetes reported a conflict on {path}")
    if status == 429:
        return Throttled(f"Kubernetes throttled {path}", retry_after=1.0)
    if status == 0 or status >= 500:
        return Unavailable(f"Kubernetes answered {status or 'nothing'} for {path}")
    return Unavailable(f"Kubernetes answered {status} for {path}: {body[:200]!r}")


def _rbac_target(path: str) -> tuple[str, str]:
    """(namespace, RBAC resource) of a namespaced object path, e.g. deployments/scale."""
    parts = path.strip("/").split("/")
    at = parts.index("namespaces") if "namespaces" in parts else -1
    namespace = parts[at + 1] if at >= 0 and len(parts) > at + 1 else ""
    rest = parts[at + 2 :] if at >= 0 else parts
    resource = rest[0] if rest else path
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    return namespace, resource


def _stop(task: asyncio.Task[None]) -> None:
    """Cancel a watch's task from wherever it runs (a closed loop runs nothing any more)."""
    owner = task.get_loop()
    if owner is asyncio.get_running_loop():
        task.cancel()
    elif not owner.is_closed():
        owner.call_soon_threadsafe(task.cancel)


async def _watch_events(body: aiohttp.StreamReader) -> AsyncIterator[tuple[Any, int]]:
    """A watch's events, one JSON object a line, as they arrive, each with its line's length.
    A last line without its newline, when the stream ends, is dropped: the watch resumes from
    the version before it, so the event comes again."""
    parts: list[bytes] = []
    size = 0
    async for chunk in body.iter_any():
        start = 0
        while (cut := chunk.find(b"\n", start)) >= 0:
            line = b"".join((*parts, chunk[start:cut])) if parts else chunk[start:cut]
            parts, size, start = [], 0, cut + 1
            if line.strip():
                yield orjson.loads(line), len(line)
        if start < len(chunk):
            parts.append(chunk[start:])
            size += len(chunk) - start
            if size > WATCH_LINE_BYTES:
                raise ValueError(f"a watch event longer than {WATCH_LINE_BYTES} bytes")


def _read_transport(configuration: k8s.Configuration, at_once: int) -> ReadTransport | None:
    """Reads on the event loop for this kubeconfig, unless it names a proxy (in effect for its
    server) or socket options: those are left to the client's own pool."""
    proxy = configuration.proxy and not should_bypass_proxies(
        configuration.host, configuration.no_proxy or ""
    )
    if proxy or configuration.socket_options is not None:
        return None
    if getattr(configuration, "keep_alive", False):
        return None
    hostname = configuration.assert_hostname
    tls = TlsSettings(
        verify=bool(configuration.verify_ssl),
        ca_file=configuration.ssl_ca_cert or None,
        ca_data=configuration.ca_cert_data or None,
        cert_file=configuration.cert_file or None,
        key_file=configuration.key_file or None,
        server_name=configuration.tls_server_name
        or (hostname if isinstance(hostname, str) and hostname else None),
        check_hostname=hostname is not False,
    )
    return ReadTransport(tls, at_once=at_once)


def _text(text: str) -> str:
    return text


def _q(part: str) -> str:
    return quote(part, safe="")
