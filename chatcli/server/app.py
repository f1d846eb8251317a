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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from chatcli.config import ServerSettings
from chatcli.server import answers, openapi
from chatcli.server.answers import read_body
from chatcli.server.errors import BadInput, RecallDisabled, StoreUnavailable
from chatcli.server.memory_routes import MEMORY_PATH, FastMemoryRoutes, MemoryEndpoints
from chatcli.server.metrics import Metrics, PidHeader, RecordRequests
from chatcli.server.middleware import CompleteAllow
from chatcli.server.operations import Readiness, add_operations
from chatcli.server.service import MemoryService, now_ms
from chatcli.server.store import Store

if TYPE_CHECKING:
    from chatcli.server.compactor import Compactor
    from chatcli.server.embedding import EmbedderHandle
    from chatcli.server.indexer import Indexer

OK = {"status": "Ok"}
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/ready"})
"""Readable without the API key, besides the GET / health check (operations.py on /ready)."""


class MemoryAPI(FastAPI):
    """FastAPI with the app's own pure-ASGI middleware (`outer`, outermost first) around
    FastAPI's whole stack rather than inside its error, telemetry and body-limit layers:
    the fast memory routes then skip those too (profiled, FastAPI's telemetry check alone
    read os.environ on every request), and every answer, a 500 included, passes the
    metrics and the pid header."""

    outer: tuple[Middleware, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer):
            app = cls(app, *args, **kwargs)
        return app


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
    endpoints = MemoryEndpoints(service, settings.max_body_bytes)
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

    app = MemoryAPI(
        title="chatcli memory server",
        summary="A Motörhead-compatible memory API.",
        version="1",
        lifespan=lifespan,
    )
    _add_error_handlers(app, metrics)
    routes = app.router.routes
    app.add_middleware(CompleteAllow, routes=routes)
    app.outer = (
        *([Middleware(PidHeader)] if settings.pid_header else []),
        Middleware(RecordRequests, metrics=metrics),
        *([Middleware(RequireKey, key=settings.api_key)] if settings.api_key else []),
        Middleware(FastMemoryRoutes, endpoints=endpoints, routes=routes, metrics=metrics),
    )
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

    # FastMemoryRoutes answers these two before FastAPI routes them; these routes are
    # what the OpenAPI document shows and what serves them should it ever not.
    @app.get(
        MEMORY_PATH,
        summary=f"The newest messages (at most the window, {settings.window}), newest first",
        **openapi.get_memory(settings),
    )
    async def get_memory(request: Request) -> Response:
        return await endpoints.get(request.path_params["session_id"])

    @app.post(
        MEMORY_PATH,
        summary="Append messages in order; `context` replaces the summary",
        **openapi.post_memory(settings),
    )
    async def post_memory(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        return await endpoints.post(session_id, request.scope, request.receive)

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
        body = await read_body(request.scope, request.receive, settings.max_body_bytes)
        return JSONResponse(await service.retrieval(session_id, body))

    @app.post(
        "/search",
        summary="Search one session's transcript or every session's",
        **openapi.search(settings),
    )
    async def search(request: Request) -> Response:
        body = await read_body(request.scope, request.receive, settings.max_body_bytes)
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
        body = await read_body(request.scope, request.receive, settings.max_body_bytes)
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
        body = await read_body(request.scope, request.receive, settings.max_body_bytes)
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
        body = await read_body(request.scope, request.receive, settings.max_body_bytes)
        return JSONResponse(await service.fork(session_id, namespace, body))

    if settings.api_key:
        document = app.openapi

        def keyed_openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                openapi.security_schemes(document())
            return document()

        app.openapi = keyed_openapi  # type: ignore[method-assign]

    return app


def _add_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error as `{"error": "..."}`, never FastAPI's `{"detail": ...}` or a 422."""

    @app.exception_handler(BadInput)
    async def bad_input(_: Request, exc: BadInput) -> Response:
        return answers.bad_input(exc)

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
        """A handler for this class, not for Exception: Starlette's ExceptionMiddleware
        answers it and the connection stays usable, where the catch-all handler's
        middleware re-raises after answering (uvicorn then logs a traceback and drops
        the kept-alive connection)."""
        return answers.unavailable(exc, metrics)

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> Response:
        return answers.failed(exc)

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
