"""One HTTP/1.1 request written byte by byte: headers no client library would send (non-UTF-8,
malformed), and chunked bodies with no Content-Length."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit


async def post(
    url: str,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes = b"",
    *,
    chunked: bool = False,
) -> tuple[int, Any]:
    """POST `body` with exactly these headers; returns the status and the JSON answer (or text)."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", "tests only ever target loopback"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"POST {parts.path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode()]
        head += [name + b": " + value for name, value in headers]
        head.append(b"Connection: close")
        if chunked:
            head.append(b"Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {len(body)}".encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        if chunked:
            for i in range(0, len(body), 64 * 1024):
                piece = body[i : i + 64 * 1024]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(body)
        # The server may answer 413 and hang up before reading everything.
        with contextlib.suppress(ConnectionResetError):
            await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    status = int(status_line.split()[1])
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")
