"""The HTTP handler: decode the request, log it, apply injected faults, run the controllers
as far as a consistent answer needs, and dispatch to discovery, OpenAPI, reads, watches,
subresources and writes. Paths are parsed in `routing`, answers rendered in `responses`,
reads served from `reads`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from bot.sandbox.doubles.kubernetes import (
    discovery,
    openapi,
    openapi_v2,
    protobuf,
    watch,
    writes,
)
from bot.sandbox.doubles.kubernetes.controller import reconcile, reconcile_if_due
from bot.sandbox.doubles.kubernetes.errors import ApiError, bad_request
from bot.sandbox.doubles.kubernetes.events import to_events_v1
from bot.sandbox.doubles.kubernetes.faults import Faults, RequestLog, RequestRecord, fault_error
from bot.sandbox.doubles.kubernetes.logs import read_log
from bot.sandbox.doubles.kubernetes.reads import read_list, read_one, selectors
from bot.sandbox.doubles.kubernetes.resources import ResourceType, lookup
from bot.sandbox.doubles.kubernetes.responses import OnServe, Responder, json_response
from bot.sandbox.doubles.kubernetes.routing import Target, default_error, k8s_verb, parse_path
from bot.sandbox.doubles.kubernetes.selectors import FieldRequirement, Requirement
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj
from bot.sandbox.doubles.kubernetes.tables.render import table, wants_table

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
        self.out = Responder(cluster, on_serve)
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
            return self.out.error(
                bad_request("the body of the request could not be decoded as JSON")
            )
        except ApiError as error:
            return self.out.error(error)
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
                return self.out.error(fault_error(rule, default_error(rule.status, verb, target)))
        try:
            self._catch_up(verb)
            answer = self._dispatch(request, target, verb, query, body)
            if isinstance(answer, web.StreamResponse):
                return answer
            return await answer
        except ApiError as error:
            return self.out.error(error)

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
        if verb not in READ_VERBS:
            reconcile(self.cluster)
            # The write lands after this: the next read sees the controllers' answer to it (a
            # deleted pod's Killing event), not a cluster reconciled just before it.
            self._reconciled_at = float("-inf")
            return
        if fresh:
            return
        reconcile_if_due(self.cluster)
        self._reconciled_at, self._reconciled_cluster_at = now, cluster_now

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
                self.out.serve(document)
                return json_response(document, content_type=media)
            if path == "/api":
                return self.out.json(discovery.api_versions(f"{request.host}"))
            return self.out.json(discovery.api_group_list())
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
            return self.out.json(resource_list)
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
            labels, fields = selectors(resource, query)
            if verb == "watch":
                return self._watch(request, resource, target.namespace, labels, fields, query)
            items = read_list(self.cluster, resource, target.namespace, labels, fields)
            return self.out.listing(request, resource, items, query)
        if verb == "get":
            return self.out.answer(request, resource, read_one(self.cluster, resource, target))
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
            return self.out.answer(request, resource, writes.access_review(body), 201)
        if verb == "create":
            warnings = openapi.check_fields(body, resource, directive)
            created = writes.create(self.cluster, resource, target.namespace, body, dry_run)
            return self.out.answer(request, resource, created, 201, warnings)
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
        return self.out.answer(request, resource, result, warnings=warnings)

    def _openapi(self, path: str, accept: str) -> web.Response:
        if path == "/openapi/v2":
            if openapi_v2.MEDIA in accept:
                response = web.Response(body=openapi_v2.document())
                response.headers["Content-Type"] = openapi_v2.RETURNED_MEDIA
                return response
            return web.Response(body=openapi.v2_document(), content_type="application/json")
        if path == "/openapi/v3":
            return json_response(openapi.v3_index())
        document = openapi.v3_document(path.removeprefix("/openapi/v3/"))
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return web.Response(
            body=document,
            content_type="application/json",
            headers={"Cache-Control": "public, immutable"},
        )

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
        media = wants_table(request.headers.get("Accept", ""))
        events_v1 = resource.group == "events.k8s.io"
        include = query.get("includeObject", "Metadata")
        now = self.cluster.now

        def render(obj: Obj) -> Obj:
            shown = to_events_v1(obj) if events_v1 else obj
            self.out.serve(shown)
            if media is None:
                return shown
            return table(
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
            on_serve=self.out.serve,
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
                return self.out.json(writes.scale_of(deployment))
            if verb in ("update", "patch"):
                content_type = request.headers.get("Content-Type", "") if verb == "patch" else None
                dry_run = writes.dry_run_requested(query, body)
                return self.out.json(
                    writes.write_scale(
                        self.cluster, resource, namespace, name, body, content_type, dry_run
                    )
                )
        raise ApiError(404, "the server could not find the requested resource")
