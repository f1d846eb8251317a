"""ASGI middleware for what the HTTP answers must say whichever route produced them.

Starlette (and so FastAPI) builds one route per method of a path; a request with another
method is refused by the first of them, whose `Allow` names its own method only, so
`PUT /sessions/x/memory` answered `Allow: GET` though the path takes GET, POST and DELETE.
`CompleteAllow` rewrites the `Allow` of every 405 to the methods of all the path's routes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes for the scope's path, sorted."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                methods |= route.methods
    return sorted(methods)


class CompleteAllow:
    """`Allow` on a 405 lists every method the path takes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(allowed_methods(self.routes, scope))
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
