"""Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl's typed clients
send them.

kubectl 1.32 sends `auth can-i`'s SelfSubjectAccessReview and the objects of `create
deployment|namespace|service` as Kubernetes protobuf: the `k8s\\x00` magic, then a
runtime.Unknown holding the apiVersion, the kind and the object's own protobuf. client-go does
not fall back to JSON on a 415 for protobuf (only for CBOR), so a server that cannot decode
these leaves those commands failing: the double decodes the messages those commands send, by
the field numbers of the Kubernetes API's generated.proto, into the JSON objects the rest of the
double handles. A body with a message or field it does not know is answered 415, as the API
server answers a media type it cannot decode, never decoded into something else.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.kubernetes.errors import ApiError

MEDIA = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# message -> field number -> (JSON name, type); a type is a message name here, or one of the
# scalars below; "[]x" repeats x; "map" is map<string,string>; "map:q" map<string,Quantity>.
MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"),
                   3: ("namespace", "string"), 4: ("selfLink", "skip"), 5: ("uid", "string"),
                   6: ("resourceVersion", "string"), 7: ("generation", "int"),
                   8: ("creationTimestamp", "skip"), 11: ("labels", "map"),
                   12: ("annotations", "map"), 14: ("finalizers", "[]string")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"),
                                2: ("spec", "SelfSubjectAccessReviewSpec"), 3: ("status", "skip")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"),
                           3: ("group", "string"), 4: ("version", "string"),
                           5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"),
                  3: ("status", "skip")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"),
                   3: ("status", "skip")},
    "DeploymentSpec": {1: ("replicas", "int?"), 2: ("selector", "LabelSelector"),
                       3: ("template", "PodTemplateSpec"), 4: ("strategy", "DeploymentStrategy"),
                       5: ("minReadySeconds", "int"), 6: ("revisionHistoryLimit", "int?"),
                       7: ("paused", "bool"), 9: ("progressDeadlineSeconds", "int?")},
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intorstr"), 2: ("maxSurge", "intorstr")},
    "LabelSelector": {1: ("matchLabels", "map"),
                      2: ("matchExpressions", "[]LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "string"), 2: ("operator", "string"),
                                 3: ("values", "[]string")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {2: ("containers", "[]Container"), 3: ("restartPolicy", "string"),
                4: ("terminationGracePeriodSeconds", "int?"), 6: ("dnsPolicy", "string"),
                7: ("nodeSelector", "map"), 8: ("serviceAccountName", "string"),
                19: ("schedulerName", "string")},
    "Container": {1: ("name", "string"), 2: ("image", "string"), 3: ("command", "[]string"),
                  4: ("args", "[]string"), 5: ("workingDir", "string"),
                  6: ("ports", "[]ContainerPort"), 7: ("env", "[]EnvVar"),
                  8: ("resources", "ResourceRequirements"),
                  13: ("terminationMessagePath", "string"), 14: ("imagePullPolicy", "string"),
                  20: ("terminationMessagePolicy", "string")},
    "ContainerPort": {1: ("name", "string"), 2: ("hostPort", "int"), 3: ("containerPort", "int"),
                      4: ("protocol", "string"), 5: ("hostIP", "string")},
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "ResourceRequirements": {1: ("limits", "map:q"), 2: ("requests", "map:q")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: ("status", "skip")},
    "ServiceSpec": {1: ("ports", "[]ServicePort"), 2: ("selector", "map"),
                    3: ("clusterIP", "string"), 4: ("type", "string"),
                    5: ("externalIPs", "[]string"), 7: ("sessionAffinity", "string"),
                    10: ("externalName", "string")},
    "ServicePort": {1: ("name", "string"), 2: ("protocol", "string"), 3: ("port", "int"),
                    4: ("targetPort", "intorstr"), 5: ("nodePort", "int")},
}  # fmt: skip
TOP_LEVEL = {
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("v1", "Namespace"): "Namespace",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment",
}


def cannot_decode(why: str) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format - {why} - accepted media types "
        "include: application/json, application/yaml",
    )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise cannot_decode("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; length-delimited values as bytes."""
    result, at = [], 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise cannot_decode(f"unsupported wire type {wire}")
        result.append((number, wire, value))
    return result


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, wire: int, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode()
    if kind == "bytes":
        return bytes(value)
    if kind in ("int", "int?"):
        return _signed(value)
    if kind == "bool":
        return bool(value)
    if kind == "intorstr":
        parts = {n: v for n, _, v in _fields(value)}
        return bytes(parts.get(3, b"")).decode() if parts.get(1) == 1 else _signed(parts.get(2, 0))
    raise cannot_decode(f"unknown type {kind}")


def _empty(wire: int, value: Any) -> bool:
    return value == 0 if wire == 0 else not any(value)


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    """One message as JSON. The Kubernetes types' protobuf always carries their non-pointer
    fields, empty or zero ones included; like Go's `omitempty`, those are left out (a pointer
    field, typed `int?`, keeps an explicit 0). A field the double does not know is fine empty
    and a 415 otherwise."""
    schema = MESSAGES[name]
    result: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in schema:
            if _empty(wire, value):
                continue
            raise cannot_decode(f"{name} field {number} is not supported by the double")
        field, kind = schema[number]
        if kind == "skip" or (
            kind != "int?" and not kind.startswith("map") and _empty(wire, value)
        ):
            continue
        repeated = kind.startswith("[]")
        kind = kind.removeprefix("[]")
        if kind in ("map", "map:q"):
            entry = {n: v for n, _, v in _fields(value)}
            raw = entry.get(2, b"")
            if kind == "map:q":  # resource.Quantity {string = 1}
                raw = {n: v for n, _, v in _fields(raw)}.get(1, b"")
            result.setdefault(field, {})[bytes(entry.get(1, b"")).decode()] = bytes(raw).decode()
            continue
        item = decode_message(kind, value) if kind in MESSAGES else _scalar(kind, wire, value)
        if item == {} and not repeated:
            continue
        if repeated:
            result.setdefault(field, []).append(item)
        else:
            result[field] = item
    return result


def decode(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body as the JSON object it encodes."""
    if not body.startswith(MAGIC):
        raise cannot_decode("no Kubernetes protobuf envelope")
    try:
        unknown = decode_message("Unknown", body[len(MAGIC) :])
        type_meta = unknown.get("typeMeta", {})
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        message = TOP_LEVEL.get((api_version, kind))
        if message is None:
            raise cannot_decode(
                f"{api_version} {kind} cannot be decoded from protobuf by the double"
            )
        obj = decode_message(message, unknown.get("raw", b""))
    except (ValueError, TypeError) as error:  # not UTF-8 where a string is, a map of garbage
        raise cannot_decode(f"malformed protobuf ({error})") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
