"""Responses: objects, lists and errors as JSON (or as a Table when kubectl asks for one),
each object shown to the `on_serve` hook on its way out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from bot.sandbox.doubles.kubernetes.errors import ApiError
from bot.sandbox.doubles.kubernetes.paging import page
from bot.sandbox.doubles.kubernetes.resources import ResourceType
from bot.sandbox.doubles.kubernetes.store import Cluster, Obj
from bot.sandbox.doubles.kubernetes.tables.render import table, wants_table

OnServe = Callable[[dict[str, Any]], None]


def json_response(
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


class Responder:
    """Renders answers for one cluster, showing every object served to `on_serve`."""

    def __init__(self, cluster: Cluster, on_serve: OnServe | None) -> None:
        self.cluster = cluster
        self.on_serve = on_serve

    def serve(self, obj: dict[str, Any]) -> None:
        if self.on_serve is not None:
            self.on_serve(obj)

    def json(self, obj: dict[str, Any], status: int = 200) -> web.Response:
        self.serve(obj)
        return json_response(obj, status)

    def error(self, error: ApiError) -> web.Response:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        body = error.status()
        self.serve(body)
        return web.json_response(body, status=error.code, headers=headers)

    def answer(
        self,
        request: web.Request,
        resource: ResourceType,
        obj: Obj,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        """One object, or its Table row when kubectl asks for a Table."""
        self.serve(obj)
        headers = CIMultiDict[str]()
        for warning in warnings or []:  # RFC 7234 warn-text: a quoted string
            text = warning.replace("\\", "\\\\").replace('"', '\\"')
            headers.add("Warning", f'299 - "{text}"')
        media = wants_table(request.headers.get("Accept", ""))
        if media is not None and obj.get("kind") == resource.kind:
            body = table(
                resource.api_version,
                resource.kind,
                [obj],
                self.cluster.now(),
                include_object=request.query.get("includeObject", "Metadata"),
                metadata={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
            )
            self.serve(body)
            return json_response(body, status, media, headers)
        return json_response(obj, status, headers=headers)

    def listing(
        self,
        request: web.Request,
        resource: ResourceType,
        items: list[Obj],
        query: Mapping[str, str],
    ) -> web.Response:
        for item in items:
            self.serve(item)
        items, metadata = page(items, query, self.cluster.resource_version)
        media = wants_table(request.headers.get("Accept", ""))
        if media is not None:
            listed = table(
                resource.api_version,
                resource.kind,
                items,
                self.cluster.now(),
                include_object=query.get("includeObject", "Metadata"),
                metadata=metadata,
            )
            self.serve(listed)
            return json_response(listed, content_type=media)
        body = {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": items,
        }
        self.serve(body)
        return json_response(body)
