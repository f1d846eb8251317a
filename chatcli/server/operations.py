"""The routes an operator's tools call, beside the Motörhead API: `/ready` and `/metrics`.

`GET /` stays Motörhead's health check (the process answers). `GET /ready` says whether
this process should be sent traffic: its start-up is done (the store opened, which is
when SQLite's migrations run, and compaction resumed) and the store answers a ping within
`READY_TIMEOUT` seconds; it turns 503 again as soon as shutdown begins. It is open without
the API key, like `/`, because load balancers and orchestrators probe without one and the
answer reveals nothing stored. `GET /metrics` is behind the key when one is set.

Neither is in the OpenAPI document: they are not part of the memory API clients code to.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from chatcli.errors import first_line
from chatcli.server.metrics import CONTENT_TYPE, Metrics
from chatcli.server.store import Store

log = logging.getLogger("chatcli.server")

READY_TIMEOUT = 1.0
"""Seconds the store has to answer a readiness ping."""


class Readiness:
    """Whether this process is ready for traffic; the app's lifespan flips `started`."""

    def __init__(self, store: Store, timeout: float = READY_TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self.started = False

    async def problem(self) -> str | None:
        """Why the process is not ready, or None when it is."""
        if not self.started:
            return "the server is starting or shutting down"
        try:
            await asyncio.wait_for(self.store.ping(), self.timeout)
        except TimeoutError:
            return f"the {self.store.name} memory store did not answer within {self.timeout:g}s"
        except Exception as exc:
            # Where the store lives stays in the log: this route is open without the key.
            log.warning("not ready: the memory store failed a ping: %s", first_line(exc))
            return f"the {self.store.name} memory store is unavailable"
        return None


def add_operations(app: FastAPI, readiness: Readiness, metrics: Metrics) -> None:
    @app.get("/ready", include_in_schema=False)
    async def ready() -> Response:
        problem = await readiness.problem()
        if problem is not None:
            return JSONResponse({"error": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)
