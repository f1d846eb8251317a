"""The Motörhead memory API as thin FastAPI routes over a `MemoryService`.

Each route reads the request and hands its raw parts to the service (service.py), which
validates everything first, then makes one store call, so a refused request writes
nothing. Every error is `{"error": "..."}`
with a 4xx (bad input, 401, 404, 405, 413), including the cases where FastAPI would
answer 422 with its own format; the one exception is Motörhead's own plain-text
`400 Long term memory is disabled` from /retrieval, which clients already expect.

Where chatcli differs from Motörhead on purpose: GET returns at most `window`
messages (Motörhead returns window+1); ids, namespaces, roles, page and size are
checked (see validation.py); bodies are limited to `max_body_bytes` (413).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from chatcli.config import ServerSettings
from chatcli.errors import first_line
from chatcli.server.errors import BadInput, StoreUnavailable
from chatcli.server.middleware import CompleteAllow
from chatcli.server.service import MemoryService, now_ms
from chatcli.server.store import Store

if TYPE_CHECKING:
    from chatcli.server.compactor import Compactor

log = logging.getLogger("chatcli.server")

OK = {"status": "Ok"}
DRAIN_LIMIT = 64 * 1024 * 1024
"""An oversized body is read and dropped up to this much, so the client gets its 413
instead of a reset connection; past it the connection is simply closed."""
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
"""Readable without the API key, besides the GET / health check."""

MESSAGES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "properties": {
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "examples": ["Human", "AI"]},
                    "content": {"type": "string"},
                },
            },
        },
        "context": {"type": ["string", "null"], "description": "Replaces the summary."},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
}
ERRORS = {
    status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for status, text in {400: "Bad input", 401: "Missing or wrong API key"}.items()
}
NOT_FOUND = {
    **ERRORS,
    404: {
        "description": "No such message in this session (or no such session)",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    },
}
MOTORHEAD = ["Motörhead API"]
EXTENSIONS = ["chatcli extensions"]
ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "role", "content", "created_at", "summarized"],
    "properties": {
        "id": {
            "type": "string",
            "description": "Unique within the session; generated ids are 16 lower-case base32 "
            "characters (10 of unix ms, 6 of the place in the session) and increase in "
            "posting order. Kept by fork, import and export.",
            "examples": ["01j0z3k5qw000001"],
        },
        "role": {"type": "string"},
        "content": {"type": "string"},
        "created_at": {"type": "integer", "description": "Unix time in milliseconds."},
        "summarized": {
            "type": "boolean",
            "description": "It left the window: the summary (`context`) covers it.",
        },
    },
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "messages": {"type": "array", "items": ENTRY_SCHEMA},
        "next": {
            "type": ["string", "null"],
            "description": "Pass as `after` for the next page; null at the end.",
        },
        "namespace": {"type": ["string", "null"]},
    },
}
EDIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["content"],
    "properties": {"content": {"type": "string", "minLength": 1}},
}
FORK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["to"],
    "properties": {
        "to": {"type": "string", "description": "The new session id; it must hold no data."},
        "at": {
            "type": ["string", "null"],
            "description": "The last message id to copy (inclusive); null copies everything.",
        },
    },
}
IMPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["messages"],
    "properties": {
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "role", "content", "created_at"],
                "properties": {
                    **ENTRY_SCHEMA["properties"],
                    "summarized": {
                        "type": "boolean",
                        "default": False,
                        "description": "True keeps it out of the window (the summary covers it).",
                    },
                },
            },
        },
        "context": {"type": ["string", "null"], "description": "Replaces the summary."},
        "tokens": {"type": ["integer", "null"], "description": "Replaces the token count."},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _answer(schema: dict[str, Any], extra: dict[int, Any] | None = None) -> dict[int | str, Any]:
    return {
        200: {"content": {"application/json": {"schema": schema}}},
        **NOT_FOUND,
        **(extra or {}),
    }


def create_app(store: Store, settings: ServerSettings, compactor: Compactor | None) -> FastAPI:
    service = MemoryService(store, settings, compactor)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if compactor is not None:
            await compactor.start()
        try:
            yield
        finally:
            try:
                if compactor is not None:
                    await compactor.stop()
            finally:
                await store.close()

    app = FastAPI(
        title="chatcli memory server",
        summary="A Motörhead-compatible memory API.",
        version="1",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    app.add_middleware(CompleteAllow, routes=app.router.routes)
    if settings.api_key:
        app.add_middleware(RequireKey, key=settings.api_key)

    @app.get("/", summary="Health check: the server's time in ms")
    async def health() -> Response:
        return JSONResponse({"now": now_ms()})

    @app.get(
        "/sessions",
        summary="Session ids by last write, oldest first",
        responses=ERRORS,
        tags=MOTORHEAD,
    )
    async def list_sessions(
        page: str | None = Query(None, description="From 1 to 100 (default 1)."),
        size: str | None = Query(None, description="From 1 to 1000 (default 10)."),
        namespace: str | None = Query(None),
    ) -> Response:
        return JSONResponse(await service.sessions(page, size, namespace))

    @app.get(
        "/sessions/{session_id}/memory",
        summary=f"The newest messages (at most the window, {settings.window}), newest first",
        responses=ERRORS,
        tags=MOTORHEAD,
    )
    async def get_memory(session_id: str) -> Response:
        return JSONResponse(await service.memory(session_id))

    @app.post(
        "/sessions/{session_id}/memory",
        summary="Append messages in order; `context` replaces the summary",
        responses=ERRORS,
        tags=MOTORHEAD,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": MESSAGES_SCHEMA}},
            }
        },
    )
    async def post_memory(
        session_id: str, request: Request, namespace: str | None = Query(None)
    ) -> Response:
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        await service.append(session_id, namespace, body)
        return JSONResponse(OK)

    @app.delete(
        "/sessions/{session_id}/memory",
        summary="Delete the messages, summary, tokens, index entry and the transcript",
        responses=ERRORS,
        tags=MOTORHEAD,
    )
    async def delete_memory(session_id: str, namespace: str | None = Query(None)) -> Response:
        await service.delete(session_id, namespace)
        return JSONResponse(OK)

    @app.post(
        "/sessions/{session_id}/retrieval",
        summary="Long-term memory search: disabled, as in Motörhead without it",
        responses=ERRORS,
        tags=MOTORHEAD,
    )
    async def retrieval(session_id: str, request: Request) -> Response:
        service.check_address(session_id)
        await read_body(request, settings.max_body_bytes)
        return PlainTextResponse("Long term memory is disabled", status_code=400)

    @app.get(
        "/sessions/{session_id}/transcript",
        summary="Every message kept, oldest first, a page at a time",
        description="Unlike GET /memory (the window), the transcript keeps messages that "
        "compaction summarized (`summarized: true`). An unknown session is an empty page.",
        responses=_answer(PAGE_SCHEMA),
        tags=EXTENSIONS,
    )
    async def get_transcript(
        session_id: str,
        after: str | None = Query(None, description="The `next` of the previous page."),
        limit: str | None = Query(None, description="From 1 to 1000 (default 100)."),
    ) -> Response:
        return JSONResponse(await service.transcript(session_id, after, limit))

    @app.post(
        "/sessions/{session_id}/transcript",
        summary="Import messages with their own ids and times (idempotent by id)",
        responses=ERRORS,
        tags=EXTENSIONS,
        openapi_extra=_json_body(IMPORT_SCHEMA),
    )
    async def import_transcript(
        session_id: str, request: Request, namespace: str | None = Query(None)
    ) -> Response:
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.import_messages(session_id, namespace, body))

    @app.get(
        "/sessions/{session_id}/messages/{message_id}",
        summary="One message of the transcript",
        responses=_answer(ENTRY_SCHEMA),
        tags=EXTENSIONS,
    )
    async def get_message(session_id: str, message_id: str) -> Response:
        return JSONResponse(await service.message(session_id, message_id))

    @app.patch(
        "/sessions/{session_id}/messages/{message_id}",
        summary="Replace one message's content (a summary covering it is rebuilt)",
        responses=_answer(ENTRY_SCHEMA),
        tags=EXTENSIONS,
        openapi_extra=_json_body(EDIT_SCHEMA),
    )
    async def edit_message(session_id: str, message_id: str, request: Request) -> Response:
        service.check_message(session_id, message_id)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.edit(session_id, message_id, body))

    @app.delete(
        "/sessions/{session_id}/messages/{message_id}",
        summary="Forget one message (a summary covering it is rebuilt)",
        responses=_answer({"type": "object"}),
        tags=EXTENSIONS,
    )
    async def delete_message(session_id: str, message_id: str) -> Response:
        await service.forget(session_id, message_id)
        return JSONResponse(OK)

    @app.post(
        "/sessions/{session_id}/fork",
        summary="Copy the transcript (up to `at`) into a new session, same ids",
        responses=_answer(
            {"type": "object"},
            {
                409: {
                    "description": "`to` already has data",
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                }
            },
        ),
        tags=EXTENSIONS,
        openapi_extra=_json_body(FORK_SCHEMA),
    )
    async def fork(
        session_id: str, request: Request, namespace: str | None = Query(None)
    ) -> Response:
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.fork(session_id, namespace, body))

    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or BadInput(413) once it passes `limit` bytes (after draining it, so the
    client reads the 413 instead of a reset connection)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise BadInput(_too_large(limit), 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > limit:
        raise BadInput(_too_large(limit), 413)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"the body is larger than the server's limit of {limit} bytes (server.max_body_bytes)"


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as `{"error": "..."}`, never FastAPI's `{"detail": ...}` or a 422."""

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput) -> Response:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(problems) or "invalid request"}, status_code=400)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, exc: StoreUnavailable) -> Response:
        """Not the client's fault, and nothing it can act on: where the store lives (a
        Redis host and port, a file path) goes to the server's log, not to the client.

        A handler for this class, not for Exception: Starlette's ExceptionMiddleware
        answers it and the connection stays usable, where the catch-all handler's
        middleware re-raises after answering (uvicorn then logs a traceback and drops
        the kept-alive connection)."""
        log.error("memory store unavailable: %s", exc.message)
        log.debug("memory store failure", exc_info=exc)
        return JSONResponse({"error": "the memory store is unavailable"}, status_code=503)

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> Response:
        """A bug: 500 with a line naming it (the traceback goes to the log)."""
        message = f"the server failed: {type(exc).__name__}: {first_line(exc)}"
        return JSONResponse({"error": message}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = (
                "no such route: the API has /, /sessions, /sessions/{id}/memory, "
                "/sessions/{id}/transcript, /sessions/{id}/messages/{message_id} "
                "and /sessions/{id}/fork"
            )
        return JSONResponse(
            {"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )


class RequireKey:
    """401 unless the request carries the key as `x-api-key` or `Authorization: Bearer`;
    the health check and the API docs stay open."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or wrong API key: send it as x-api-key or Authorization: Bearer"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    @staticmethod
    def _open(scope: Scope) -> bool:
        path = scope["path"]
        return path in OPEN_PATHS or (path == "/" and scope["method"] in ("GET", "HEAD"))

    def _authorized(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value
                break
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        return bool(given) and hmac.compare_digest(given, self.key)
