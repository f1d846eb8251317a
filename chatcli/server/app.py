"""The Motörhead memory API as thin FastAPI routes over a `MemoryService`.

Each route reads the request and hands its raw parts to the service (service.py), which
validates everything first, then makes one store call, so a refused request writes
nothing. Every error is `{"error": "..."}`
with a 4xx (bad input, 401, 404, 405, 409, 413), including the cases where FastAPI would
answer 422 with its own format; the one exception is Motörhead's own plain-text
`400 Long term memory is disabled` from /retrieval, which clients already expect.

Where chatcli differs from Motörhead on purpose: GET returns at most `window`
messages (Motörhead returns window+1); ids, namespaces, roles, page and size are
checked (see validation.py); bodies are limited to `max_body_bytes` (413); a POST may
carry an `Idempotency-Key` (service.py). openapi.py describes every route's inputs and
answers, since the routes read raw inputs and leave the rules to the service.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from chatcli.config import ServerSettings
from chatcli.errors import first_line
from chatcli.server import openapi
from chatcli.server.errors import BadInput, RecallDisabled, StoreUnavailable
from chatcli.server.metrics import Metrics, PidHeader, RecordRequests
from chatcli.server.middleware import CompleteAllow
from chatcli.server.operations import Readiness, add_operations
from chatcli.server.service import MemoryService, now_ms
from chatcli.server.store import Store

if TYPE_CHECKING:
    from chatcli.server.compactor import Compactor
    from chatcli.server.embedding import EmbedderHandle
    from chatcli.server.indexer import Indexer

log = logging.getLogger("chatcli.server")

OK = {"status": "Ok"}
REPLAYED = {"Idempotent-Replayed": "true"}
"""On the answer to a POST whose Idempotency-Key was seen: the first request's answer stands."""
DRAIN_LIMIT = 64 * 1024 * 1024
"""An oversized body is read and dropped up to this much, so the client gets its 413
instead of a reset connection; past it the connection is simply closed."""
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/ready"})
"""Readable without the API key, besides the GET / health check (operations.py on /ready)."""


def create_app(
    store: Store,
    settings: ServerSettings,
    compactor: Compactor | None,
    metrics: Metrics | None = None,
    *,
    embedder: EmbedderHandle | None = None,
    indexer: Indexer | None = None,
) -> FastAPI:
    """Long-term memory (/retrieval, /search) is on when an `embedder` is given; the
    `indexer` (with the same embedder) then keeps the vectors up to date."""
    service = MemoryService(store, settings, compactor, embedder, indexer)
    metrics = metrics or Metrics()
    readiness = Readiness(store)
    if compactor is not None:
        compactor.report_to(metrics)
    if indexer is not None:
        indexer.report_to(metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if compactor is not None:
            await compactor.start()
        if indexer is not None:
            await indexer.start()
        readiness.started = True
        try:
            async with metrics.running_refresher():
                yield
        finally:
            readiness.started = False
            try:
                if indexer is not None:
                    await indexer.stop()
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
    _add_error_handlers(app, metrics)
    app.add_middleware(CompleteAllow, routes=app.router.routes)
    if settings.api_key:
        app.add_middleware(RequireKey, key=settings.api_key)
    app.add_middleware(RecordRequests, metrics=metrics)
    if settings.pid_header:
        app.add_middleware(PidHeader)
    add_operations(app, readiness, metrics)

    @app.get("/", summary="Health check: the server's time in ms", **openapi.health(settings))
    async def health() -> Response:
        return JSONResponse({"now": now_ms()})

    @app.get(
        "/sessions",
        summary="Session ids by last write, oldest first",
        **openapi.sessions(settings),
    )
    async def list_sessions(request: Request) -> Response:
        query = request.query_params
        found = await service.sessions(query.get("page"), query.get("size"), query.get("namespace"))
        return JSONResponse(found)

    @app.get(
        "/sessions/{session_id}/memory",
        summary=f"The newest messages (at most the window, {settings.window}), newest first",
        **openapi.get_memory(settings),
    )
    async def get_memory(request: Request) -> Response:
        return JSONResponse(await service.memory(request.path_params["session_id"]))

    @app.post(
        "/sessions/{session_id}/memory",
        summary="Append messages in order; `context` replaces the summary",
        **openapi.post_memory(settings),
    )
    async def post_memory(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        namespace = request.query_params.get("namespace")
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        key = request.headers.get("idempotency-key")
        replayed = await service.append(session_id, namespace, body, key)
        return JSONResponse(OK, headers=REPLAYED if replayed else None)

    @app.delete(
        "/sessions/{session_id}/memory",
        summary="Delete the messages, summary, tokens, index entry and the transcript",
        **openapi.delete_memory(settings),
    )
    async def delete_memory(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await service.delete(session_id, request.query_params.get("namespace"))
        return JSONResponse(OK)

    @app.post(
        "/sessions/{session_id}/retrieval",
        summary="Long-term memory: the session's messages nearest a text, at most 10",
        **openapi.retrieval(settings),
    )
    async def retrieval(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        service.check_address(session_id)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.retrieval(session_id, body))

    @app.post(
        "/search",
        summary="Search one session's transcript or every session's",
        **openapi.search(settings),
    )
    async def search(request: Request) -> Response:
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.search(body))

    @app.get(
        "/sessions/{session_id}/transcript",
        summary="Every message kept, oldest first, a page at a time",
        description="Unlike GET /memory (the window), the transcript keeps messages that "
        "compaction summarized (`summarized: true`). An unknown session is an empty page.",
        **openapi.transcript(settings),
    )
    async def get_transcript(request: Request) -> Response:
        query = request.query_params
        page = await service.transcript(
            request.path_params["session_id"], query.get("after"), query.get("limit")
        )
        return JSONResponse(page)

    @app.post(
        "/sessions/{session_id}/transcript",
        summary="Import messages with their own ids and times (idempotent by id)",
        **openapi.import_transcript(settings),
    )
    async def import_transcript(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        namespace = request.query_params.get("namespace")
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.import_messages(session_id, namespace, body))

    @app.get(
        "/sessions/{session_id}/messages/{message_id}",
        summary="One message of the transcript",
        **openapi.get_message(settings),
    )
    async def get_message(request: Request) -> Response:
        params = request.path_params
        return JSONResponse(await service.message(params["session_id"], params["message_id"]))

    @app.patch(
        "/sessions/{session_id}/messages/{message_id}",
        summary="Replace one message's content (a summary covering it is rebuilt)",
        **openapi.edit_message(settings),
    )
    async def edit_message(request: Request) -> Response:
        session_id, message_id = (
            request.path_params["session_id"],
            request.path_params["message_id"],
        )
        service.check_message(session_id, message_id)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.edit(session_id, message_id, body))

    @app.delete(
        "/sessions/{session_id}/messages/{message_id}",
        summary="Forget one message (a summary covering it is rebuilt)",
        **openapi.delete_message(settings),
    )
    async def delete_message(request: Request) -> Response:
        params = request.path_params
        await service.forget(params["session_id"], params["message_id"])
        return JSONResponse(OK)

    @app.post(
        "/sessions/{session_id}/fork",
        summary="Copy the transcript (up to `at`) into a new session, same ids",
        **openapi.fork(settings),
    )
    async def fork(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        namespace = request.query_params.get("namespace")
        service.check_address(session_id, namespace)
        body = await read_body(request, settings.max_body_bytes)
        return JSONResponse(await service.fork(session_id, namespace, body))

    if settings.api_key:
        document = app.openapi

        def keyed_openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                openapi.security_schemes(document())
            return document()

        app.openapi = keyed_openapi  # type: ignore[method-assign]

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


def _add_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error as `{"error": "..."}`, never FastAPI's `{"detail": ...}` or a 422."""

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput) -> Response:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RecallDisabled)
    async def recall_disabled(_: Request, __: RecallDisabled) -> Response:
        return PlainTextResponse(RecallDisabled.MESSAGE, status_code=400)

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
        metrics.store_failed()
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
                "/sessions/{id}/transcript, /sessions/{id}/messages/{message_id}, "
                "/sessions/{id}/fork, /sessions/{id}/retrieval and /search"
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
