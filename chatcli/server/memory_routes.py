"""GET and POST /sessions/{id}/memory, the two routes a chatbot calls on every turn, served
without FastAPI's per-request machinery.

Profiled under load, FastAPI's routing, request objects, dependency solving and its
exception and exit-stack layers cost more than the store's own round trip. `MemoryEndpoints`
holds the two routes' work (the service call and its answer); FastAPI's routes for them
(app.py) call it, so they stay what the OpenAPI document describes and what any request
FastAPI routes gets. `FastMemoryRoutes`, the innermost of the app's own middleware and
outside all of FastAPI's (app.MemoryAPI), answers the same two requests before FastAPI
sees them: inside the API key check and the request metrics, which run for it as for
every request, with the same errors (answers.py), and with
`scope["route"]` set to FastAPI's own route so /metrics labels it alike. Any other method or
path, and any mounted app (a root_path), goes on to FastAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatcli.server import answers
from chatcli.server.errors import BadInput, StoreUnavailable
from chatcli.server.metrics import Metrics
from chatcli.server.service import MemoryService

log = logging.getLogger("chatcli.server")

MEMORY_PATH = "/sessions/{session_id}/memory"
MEMORY_PATTERN = re.compile(r"/sessions/([^/]+)/memory")
"""MEMORY_PATH as Starlette matches it: a path parameter is anything without a slash."""
OK = b'{"status":"Ok"}'
JSON = (b"content-type", b"application/json")
REPLAYED = (b"idempotent-replayed", b"true")
"""On the answer to a POST whose Idempotency-Key was seen: the first request's answer stands."""


class JSONBytes(Response):
    """A JSON answer whose body is already encoded: the headers JSONResponse would send."""

    media_type = "application/json"

    def __init__(self, body: bytes, replayed: bool = False) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        head = [REPLAYED] if replayed else []
        head += [(b"content-length", str(len(body)).encode()), JSON]
        self.raw_headers = head


class MemoryEndpoints:
    """The work of GET and POST on a session's memory, whichever router took the request."""

    def __init__(self, service: MemoryService, max_body_bytes: int) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def get(self, session_id: str) -> Response:
        return JSONBytes(answers.json_bytes(await self.service.memory(session_id)))

    async def post(self, session_id: str, scope: Scope, receive: Receive) -> Response:
        query = scope["query_string"]
        namespace = QueryParams(query).get("namespace") if query else None
        self.service.check_address(session_id, namespace)
        body = await answers.read_body(scope, receive, self.max_body_bytes)
        key = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode("latin-1")
                break
        replayed = await self.service.append(session_id, namespace, body, key)
        return JSONBytes(OK, replayed)


def route_of(routes: Iterable[BaseRoute], path: str, method: str) -> Route:
    """The app's route for `path` and `method`, as FastAPI's router would put it in the scope."""
    for route in routes:
        if isinstance(route, Route) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no {method} route for {path}")


class FastMemoryRoutes:
    """GET and POST /sessions/{id}/memory answered here; everything else goes to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        endpoints: MemoryEndpoints,
        routes: Iterable[BaseRoute],
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.metrics = metrics
        self.routes = routes
        self._taken: dict[str, Route] | None = None

    def _route(self, method: str) -> Route:
        """FastAPI's route for the method, looked up once the app's routes all exist."""
        if self._taken is None:
            self._taken = {m: route_of(self.routes, MEMORY_PATH, m) for m in ("GET", "POST")}
        return self._taken[method]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if (
            (method == "GET" or method == "POST")
            and scope["type"] == "http"
            and not scope.get("root_path")
            and (found := MEMORY_PATTERN.fullmatch(scope["path"])) is not None
        ):
            await self._serve(method, found.group(1), scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _serve(
        self, method: str, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = self._route(method)
        scope["path_params"] = {"session_id": session_id}
        endpoints = self.endpoints
        try:
            if method == "GET":
                response = await endpoints.get(session_id)
            else:
                response = await endpoints.post(session_id, scope, receive)
        except BadInput as exc:
            response = answers.bad_input(exc)
        except StoreUnavailable as exc:
            response = answers.unavailable(exc, self.metrics)
        except Exception as exc:
            log.exception("the server failed on %s %s", method, scope["path"])
            response = answers.failed(exc)
        await response(scope, receive, send)
