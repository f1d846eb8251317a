"""What the HTTP API answers, in one place for FastAPI's routes and handlers (app.py) and
the fast memory routes (memory_routes.py): the JSON encoding, each error's `{"error": ...}`
answer, and reading a body within the size limit.

A fast route must answer exactly what FastAPI would have, so both take these from here
rather than each its own copy.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope

from chatcli.errors import first_line
from chatcli.server.errors import BadInput, StoreUnavailable
from chatcli.server.metrics import Metrics

log = logging.getLogger("chatcli.server")

DRAIN_LIMIT = 64 * 1024 * 1024
"""An oversized body is read and dropped up to this much, so the client gets its 413
instead of a reset connection; past it the connection is simply closed."""


def json_bytes(data: Any) -> bytes:
    """The body JSONResponse renders, byte for byte."""
    return json.dumps(
        data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def bad_input(exc: BadInput) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def unavailable(exc: StoreUnavailable, metrics: Metrics) -> JSONResponse:
    """Not the client's fault, and nothing it can act on: where the store lives (a Redis
    host and port, a file path) goes to the server's log, not to the client."""
    metrics.store_failed()
    log.error("memory store unavailable: %s", exc.message)
    log.debug("memory store failure", exc_info=exc)
    return JSONResponse({"error": "the memory store is unavailable"}, status_code=503)


def failed(exc: Exception) -> JSONResponse:
    """A bug: 500 with a line naming it (the traceback goes to the log)."""
    message = f"the server failed: {type(exc).__name__}: {first_line(exc)}"
    return JSONResponse({"error": message}, status_code=500)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, or BadInput(413) once it passes `limit` bytes (after draining it, so the
    client reads the 413 instead of a reset connection); ClientDisconnect, as Starlette's
    Request raises it, when the client leaves first."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > DRAIN_LIMIT:
                raise BadInput(_too_large(limit), 413)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
        if not message.get("more_body", False):
            break
    if size > limit:
        raise BadInput(_too_large(limit), 413)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"the body is larger than the server's limit of {limit} bytes (server.max_body_bytes)"
