"""/openapi/v2 as kubectl reads it: gnostic's OpenAPI v2 protobuf.

client-go asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and decodes
nothing else (on 406 it tries the pre-1.10 `/swagger-2.0.0.pb-v1` and fails), so a server that
offers only JSON leaves `kubectl explain --output plaintext-openapiv2` and client-side
validation without a schema. This encodes the JSON document (`openapi.v2_document`) into the
messages of gnostic's `openapiv2/OpenAPIv2.proto` by their field numbers; vendor extensions and
enum values travel as YAML text (JSON is YAML), as gnostic carries them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from bot.sandbox.doubles.kubernetes import openapi

MEDIA = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
RETURNED_MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""What the API server labels the answer with (an `@` is no valid media type character)."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, value: str) -> bytes:
    return _field(number, value.encode()) if value else b""


def _strings(number: int, values: Iterable[str]) -> bytes:
    return b"".join(_field(number, v.encode()) for v in values)


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _any(value: Any) -> bytes:  # Any { string yaml = 2; }
    return _string(2, json.dumps(value))


def _named_any(
    number: int, name: str, value: Any
) -> bytes:  # NamedAny { name = 1; Any value = 2; }
    return _field(number, _string(1, name) + _field(2, _any(value)))


def _extensions(number: int, node: dict[str, Any]) -> bytes:
    return b"".join(_named_any(number, k, v) for k, v in node.items() if k.startswith("x-"))


def schema(node: dict[str, Any]) -> bytes:
    out = _string(1, node.get("$ref", "")) + _string(2, node.get("format", ""))
    out += _string(4, node.get("description", ""))
    out += _strings(19, node.get("required", []))
    out += b"".join(_field(20, _any(v)) for v in node.get("enum", []))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out += _field(21, _field(1, schema(extra)))
    elif isinstance(extra, bool):
        out += _field(21, _bool(2, extra) or b"\x10\x00")
    if "type" in node:
        out += _field(22, _strings(1, [node["type"]]))
    if isinstance(node.get("items"), dict):
        out += _field(23, _field(1, schema(node["items"])))
    if "properties" in node:
        named = b"".join(
            _field(1, _string(1, name) + _field(2, schema(prop)))
            for name, prop in node["properties"].items()
        )
        out += _field(25, named)
    return out + _extensions(31, node)


def _parameter(param: dict[str, Any]) -> bytes:
    if param.get("in") == "body":  # BodyParameter
        body = (
            _string(2, param["name"]) + _string(3, "body") + _bool(4, param.get("required", False))
        )
        return _field(1, _field(1, body + _field(5, schema(param["schema"]))))
    query = _string(2, "query") + _string(4, param["name"]) + _string(6, param.get("type", ""))
    return _field(1, _field(2, _field(3, query)))  # NonBodyParameter.query_parameter_sub_schema


def _operation(op: dict[str, Any]) -> bytes:
    out = _string(5, op.get("operationId", "")) + _strings(7, op.get("consumes", []))
    out += b"".join(_field(8, _parameter(p)) for p in op.get("parameters", []))
    responses = b""
    for code, response in op.get("responses", {}).items():
        body = _string(1, response.get("description", ""))
        if "schema" in response:
            body += _field(2, _field(1, schema(response["schema"])))
        responses += _field(1, _string(1, code) + _field(2, _field(1, body)))
    out += _field(9, responses)
    return out + _extensions(13, op)


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


@functools.cache
def document() -> bytes:
    doc = json.loads(openapi.v2_document())
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    paths = b"".join(
        _field(
            2,
            _string(1, path)
            + _field(
                2,
                b"".join(
                    _field(_METHODS[method], _operation(op))
                    for method, op in item.items()
                    if method in _METHODS
                ),
            ),
        )
        for path, item in doc["paths"].items()
    )
    definitions = b"".join(
        _field(1, _string(1, name) + _field(2, schema(node)))
        for name, node in doc["definitions"].items()
    )
    return _string(1, doc["swagger"]) + _field(2, info) + _field(8, paths) + _field(9, definitions)
