"""Request routing: parse REST paths, apply faults, dispatch reads and writes, render JSON."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from bot.sandbox.doubles.kubernetes import (
    discovery,
    openapi,
    openapi_v2,
    paging,
    protobuf,
    tables,
    watch,
    writes,
)
from bot.sandbox.doubles.kubernetes.controller import reconcile, reconcile_if_due
from bot.sandbox.doubles.kubernetes.errors import (
    ApiError,
    bad_request,
    conflict,
    forbidden,
    internal_error,
    not_found,
    service_unavailable,
    too_many_requests,
)
from bot.sandbox.doubles.kubernetes.events import to_events_v1
from bot.sandbox.doubles.kubernetes.faults import Faults, RequestLog, RequestRecord, fault_error
from bot.sandbox.doubles.kubernetes.logs import read_log
from bot.sandbox.doubles.kubernetes.metrics import node_metrics, pod_metrics
from bot.sandbox.doubles.kubernetes.resources import ResourceType, lookup
from bot.sandbox.doubles.kubernetes.selectors import (
    FieldRequirement,
    Requirement,
    parse_field_selector,
    parse_label_selector,
    supported_fields,
)
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj

OnServe = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> Target | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return Target(
        group,
        version,
        rest[0],
        namespace,
        rest[1] if len(rest) > 1 else None,
        rest[2] if len(rest) > 2 else None,
    )


def k8s_verb(method: str, target: Target | None, query: Mapping[str, str]) -> str:
    if method == "GET":
        if target is not None and target.name is None:
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def default_error(status: int, verb: str, target: Target | None) -> ApiError:
    """What the API server would say for an injected status on this request."""
    plural = target.plural if target else ""
    group = target.group if target else ""
    name = target.name or "" if target else ""
    if status == 403:
        return forbidden(
            verb,
            plural,
            group,
            target.namespace if target else None,
            name,
            subresource=target.subresource or "" if target else "",
        )
    if status == 404:
        return not_found(plural, name, group)
    if status == 409:
        return conflict(plural, name, group)
    if status == 429:
        return too_many_requests()
    if status == 500:
        return internal_error()
    if status == 503:
        return service_unavailable()
    return ApiError(status, f"injected fault {status}")


def _json_response(
    body: object,
    status: int = 200,
    content_type: str = "application/json",
    headers: CIMultiDict[str] | None = None,
) -> web.Response:
    """JSON with orjson: a namespace's pods encode in a fifth of json.dumps's time, and the
    double answers every request on one thread (concurrent reads queue behind each other)."""
    response = web.Response(body=orjson.dumps(body), status=status, headers=headers)
    response.headers["Content-Type"] = content_type
    return response


READ_VERBS = frozenset({"get", "list", "watch"})
READ_STALENESS_S = 0.02  # one background tick


class Api:
    def __init__(
        self,
        cluster: Cluster,
        faults: Faults,
        requests: RequestLog,
        on_serve: OnServe | None,
        closing: asyncio.Event,
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.requests = requests
        self.on_serve = on_serve
        self.closing = closing
        self._reconciled_at = 0.0
        self._reconciled_cluster_at = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        target = parse_path(request.path)
        verb = k8s_verb(request.method, target, query)
        body: Any = None
        media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if request.can_read_body:
                raw = await request.read()
                if media == protobuf.MEDIA:
                    body = protobuf.decode(raw)
                else:
                    body = json.loads(raw) if raw else None
        except ValueError:
            return self._error(bad_request("the body of the request could not be decoded as JSON"))
        except ApiError as error:
            return self._error(error)
        self.requests.append(RequestRecord(request.method, verb, request.path, query, body))
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        for rule in self.faults.take(request.method, verb, request.path):
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.hang:
                await self.closing.wait()
                raise web.HTTPServiceUnavailable()
            if rule.status is not None:
                return self._error(fault_error(rule, default_error(rule.status, verb, target)))
        try:
            self._catch_up(verb)
            answer = self._dispatch(request, target, verb, query, body)
            if isinstance(answer, web.StreamResponse):
                return answer
            return await answer
        except ApiError as error:
            return self._error(error)

    def _catch_up(self, verb: str) -> None:
        """Run the controller before answering, as little as a consistent answer needs.

        Writes always see a reconciled cluster. Reads rely on the background tick unless it is
        late, and then only if something the controller reads has changed: reconciling copies
        every Deployment and ReplicaSet, and doing it before each of fifty concurrent reads (or
        on every 20 ms tick of a settled cluster) made the double, not the client, the
        bottleneck.
        """
        now, cluster_now = time.monotonic(), self.cluster.now().timestamp()
        fresh = (
            now - self._reconciled_at < READ_STALENESS_S
            and cluster_now - self._reconciled_cluster_at < READ_STALENESS_S
        )  # a test that moves the cluster's clock gets the controller's answer at once
        if verb in READ_VERBS:
            if fresh:
                return
            reconcile_if_due(self.cluster)
        else:
            reconcile(self.cluster)
        self._reconciled_at, self._reconciled_cluster_at = now, cluster_now

    # -- rendering ---------------------------------------------------------------------
    def _serve(self, obj: dict[str, Any]) -> None:
        if self.on_serve is not None:
            self.on_serve(obj)

    def _json(self, obj: dict[str, Any], status: int = 200) -> web.Response:
        self._serve(obj)
        return _json_response(obj, status)

    def _error(self, error: ApiError) -> web.Response:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        body = error.status()
        self._serve(body)
        return web.json_response(body, status=error.code, headers=headers)

    def _answer(
        self,
        request: web.Request,
        resource: ResourceType,
        obj: Obj,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        """One object, or its Table row when kubectl asks for a Table."""
        self._serve(obj)
        headers = CIMultiDict[str]()
        for warning in warnings or []:  # RFC 7234 warn-text: a quoted string
            text = warning.replace("\\", "\\\\").replace('"', '\\"')
            headers.add("Warning", f'299 - "{text}"')
        media = tables.wants_table(request.headers.get("Accept", ""))
        if media is not None and obj.get("kind") == resource.kind:
            body = tables.table(
                resource.api_version,
                resource.kind,
                [obj],
                self.cluster.now(),
                include_object=request.query.get("includeObject", "Metadata"),
                metadata={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
            )
            self._serve(body)
            return _json_response(body, status, media, headers)
        return _json_response(obj, status, headers=headers)

    def _list(
        self,
        request: web.Request,
        resource: ResourceType,
        items: list[Obj],
        query: Mapping[str, str],
    ) -> web.Response:
        for item in items:
            self._serve(item)
        items, metadata = paging.page(items, query, self.cluster.resource_version)
        media = tables.wants_table(request.headers.get("Accept", ""))
        if media is not None:
            table = tables.table(
                resource.api_version,
                resource.kind,
                items,
                self.cluster.now(),
                include_object=query.get("includeObject", "Metadata"),
                metadata=metadata,
            )
            self._serve(table)
            return _json_response(table, content_type=media)
        body = {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": items,
        }
        self._serve(body)
        return _json_response(body)

    # -- dispatch ----------------------------------------------------------------------
    def _dispatch(
        self,
        request: web.Request,
        target: Target | None,
        verb: str,
        query: dict[str, str],
        body: Any,
    ) -> web.StreamResponse | Awaitable[web.StreamResponse]:
        path = request.path.rstrip("/")
        accept = request.headers.get("Accept", "")
        if path == "/version":
            return web.json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            media = discovery.wants_aggregated(accept)
            if media is not None:
                document = discovery.aggregated(path == "/api", media)
                self._serve(document)
                return _json_response(document, content_type=media)
            if path == "/api":
                return self._json(discovery.api_versions(f"{request.host}"))
            return self._json(discovery.api_group_list())
        if path.startswith("/openapi/"):
            return self._openapi(path, accept)
        parts = [p for p in path.split("/") if p]
        if (parts[:1] == ["api"] and len(parts) == 2) or (
            parts[:1] == ["apis"] and len(parts) == 3
        ):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            resource_list = discovery.api_resource_list(group, version)
            if resource_list is None:
                raise ApiError(404, "the server could not find the requested resource")
            return self._json(resource_list)
        resource = lookup(target.group, target.version, target.plural) if target else None
        if target is None or resource is None:
            raise ApiError(404, "the server could not find the requested resource")
        if not resource.namespaced and target.namespace is not None:
            raise ApiError(404, "the server could not find the requested resource")
        if target.subresource is not None:
            return self._subresource(request, resource, target, verb, query, body)
        if verb in ("list", "watch"):
            if "list" not in resource.verbs:
                raise ApiError(405, "the server does not allow this method on the requested "
                               "resource", "MethodNotAllowed")  # fmt: skip
            labels, fields = self._selectors(resource, query)
            if verb == "watch":
                return self._watch(request, resource, target.namespace, labels, fields, query)
            items = self._read_list(resource, target.namespace, labels, fields)
            return self._list(request, resource, items, query)
        if verb == "get":
            return self._answer(request, resource, self._read_one(resource, target))
        if verb not in resource.verbs:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                "MethodNotAllowed",
            )
        dry_run = writes.dry_run_requested(query, body)
        namespace = target.namespace or ""
        directive = query.get("fieldValidation")
        if resource.kind == "SelfSubjectAccessReview":
            return self._answer(request, resource, writes.access_review(body), 201)
        if verb == "create":
            warnings = openapi.check_fields(body, resource, directive)
            created = writes.create(self.cluster, resource, target.namespace, body, dry_run)
            return self._answer(request, resource, created, 201, warnings)
        assert target.name is not None
        warnings = []
        if verb == "update":
            warnings = openapi.check_fields(body, resource, directive)
            result = writes.update(self.cluster, resource, namespace, target.name, body, dry_run)
        elif verb == "patch":
            result = writes.patch(
                self.cluster,
                resource,
                namespace,
                target.name,
                body,
                request.headers.get("Content-Type", ""),
                dry_run,
                check=lambda obj: openapi.check_fields(obj, resource, directive),
            )
        else:
            grace = query.get("gracePeriodSeconds")
            result = writes.delete(
                self.cluster,
                resource,
                namespace,
                target.name,
                body,
                dry_run,
                int(grace) if grace not in (None, "") else None,
            )
        return self._answer(request, resource, result, warnings=warnings)

    def _openapi(self, path: str, accept: str) -> web.Response:
        if path == "/openapi/v2":
            if openapi_v2.MEDIA in accept:
                response = web.Response(body=openapi_v2.document())
                response.headers["Content-Type"] = openapi_v2.RETURNED_MEDIA
                return response
            return web.Response(body=openapi.v2_document(), content_type="application/json")
        if path == "/openapi/v3":
            return _json_response(openapi.v3_index())
        document = openapi.v3_document(path.removeprefix("/openapi/v3/"))
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return web.Response(
            body=document,
            content_type="application/json",
            headers={"Cache-Control": "public, immutable"},
        )

    def _selectors(
        self, resource: ResourceType, query: Mapping[str, str]
    ) -> tuple[list[Requirement], list[FieldRequirement]]:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        if resource.group != "metrics.k8s.io":
            fields = supported_fields(resource.kind, fields)
        return labels, fields

    async def _watch(
        self,
        request: web.Request,
        resource: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[FieldRequirement],
        query: dict[str, str],
    ) -> web.StreamResponse:
        if resource.group == "metrics.k8s.io":
            raise ApiError(405, "the server does not allow this method on the requested "
                           "resource", "MethodNotAllowed")  # fmt: skip
        media = tables.wants_table(request.headers.get("Accept", ""))
        events_v1 = resource.group == "events.k8s.io"
        include = query.get("includeObject", "Metadata")
        now = self.cluster.now

        def render(obj: Obj) -> Obj:
            shown = to_events_v1(obj) if events_v1 else obj
            self._serve(shown)
            if media is None:
                return shown
            return tables.table(
                resource.api_version,
                resource.kind,
                [shown],
                now(),
                include_object=include,
                metadata={"resourceVersion": shown["metadata"].get("resourceVersion", "")},
            )

        return await watch.watch(
            request,
            self.cluster,
            api_version="v1" if events_v1 else resource.api_version,
            kind=resource.kind,
            namespace=namespace,
            labels=labels,
            fields=fields,
            query=query,
            render=render,
            content_type=media or "application/json",
            closing=self.closing,
            on_serve=self._serve,
        )

    def _subresource(
        self,
        request: web.Request,
        resource: ResourceType,
        target: Target,
        verb: str,
        query: dict[str, str],
        body: Any,
    ) -> web.StreamResponse | Awaitable[web.StreamResponse]:
        namespace, name = target.namespace or "", target.name or ""
        if resource.kind == "Pod" and target.subresource == "log" and verb == "get":
            if query.get("follow", "false").lower() in ("true", "1"):
                return watch.follow_log(request, self.cluster, namespace, name, query, self.closing)
            text = read_log(self.cluster, namespace, name, query)
            return web.Response(text=text, content_type="text/plain")
        if resource.kind == "Deployment" and target.subresource == "scale":
            if verb == "get":
                deployment = self.cluster.require(
                    resource.api_version, "Deployment", namespace, name
                )
                return self._json(writes.scale_of(deployment))
            if verb in ("update", "patch"):
                content_type = request.headers.get("Content-Type", "") if verb == "patch" else None
                dry_run = writes.dry_run_requested(query, body)
                return self._json(
                    writes.write_scale(
                        self.cluster, resource, namespace, name, body, content_type, dry_run
                    )
                )
        raise ApiError(404, "the server could not find the requested resource")

    def _read_list(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[FieldRequirement],
    ) -> list[Obj]:
        cluster = self.cluster
        if resource.group == "metrics.k8s.io":
            source_kind = "Pod" if resource.plural == "pods" else "Node"
            sources = cluster.select("v1", source_kind, namespace, labels, fields)
            if source_kind == "Node":
                return [node_metrics(cluster, node) for node in sources]
            return [m for pod in sources if (m := pod_metrics(cluster, pod)) is not None]
        if resource.group == "events.k8s.io":
            return [
                to_events_v1(e) for e in cluster.select("v1", "Event", namespace, labels, fields)
            ]
        # Served as stored, not copied: nothing on the way out changes them (see select).
        return cluster.select(resource.api_version, resource.kind, namespace, labels, fields)

    def _read_one(self, resource: ResourceType, target: Target) -> Obj:
        namespace, name = target.namespace or "", target.name or ""
        cluster = self.cluster
        if resource.group == "metrics.k8s.io":
            if resource.plural == "nodes":
                return node_metrics(cluster, cluster.require("v1", "Node", "", name))
            pod = cluster.get("v1", "Pod", namespace, name)
            metrics = pod_metrics(cluster, pod) if pod else None
            if metrics is None:
                raise not_found("pods", name, "metrics.k8s.io")
            return metrics
        if resource.group == "events.k8s.io":
            return to_events_v1(cluster.require("v1", "Event", namespace, name))
        obj = cluster.get(resource.api_version, resource.kind, namespace, name)
        if obj is None:
            raise not_found(resource.plural, name, resource.group)
        return obj
