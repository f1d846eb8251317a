"""What `GET /metrics` shows, in Prometheus' text format (prometheus-client).

One `Metrics` per app holds its own `CollectorRegistry` and instruments, so two apps in
one process (the tests run many) never mix their counts. `RecordRequests` times every
request with one histogram observation and one counter increment, labelled by the route's
path template (`/sessions/{session_id}/memory`, never the raw path), the method and the
status, so the number of series stays bounded whatever clients send.

The compactor reports to `Metrics` through its `CompactionObserver` protocol (it never
imports this module). `chatcli serve --workers N` runs prometheus-client's multiprocess
mode: each worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR` and the worker
that answers a scrape reads all of them, so `/metrics` is one view of every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404, or refused before routing)."""
AGE_REFRESH_SECONDS = 1.0
"""In multiprocess mode each worker rewrites its waiting age this often (a scrape cannot
ask the other workers); a single process computes it at the scrape itself."""


class Metrics:
    """The app's instruments; also the compactor's `CompactionObserver` and the indexer's
    `IndexingObserver`.

    `multiprocess` only in a process prometheus-client was imported into with its
    multiprocess directory set (workers.py does that)."""

    def __init__(self, multiprocess: bool = False) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "chatcli_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "chatcli_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.running = Gauge(
            "chatcli_compactions_running",
            "Summaries holding a session's compaction lock now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.queued = Gauge(
            "chatcli_compactions_queued",
            "Sessions over their window waiting for a summary slot, a backoff or another "
            "replica's lock.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.oldest_age = Gauge(
            "chatcli_summary_oldest_waiting_seconds",
            "Seconds since the longest-waiting session still over its window was first seen "
            "over it by this server (0 when none waits).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.failed = Counter(
            "chatcli_summaries_failed",
            "Summary attempts that failed (LLM or store error).",
            registry=registry,
        )
        self.retried = Counter(
            "chatcli_summaries_retried",
            "Summary attempts started again after a failure.",
            registry=registry,
        )
        self.summaries = Counter(
            "chatcli_summaries",
            "Summaries committed.",
            registry=registry,
        )
        self.summary_tokens = Counter(
            "chatcli_summary_tokens",
            "Tokens of the summaries committed (as the sessions' token counts add them).",
            registry=registry,
        )
        self.indexing_backlog = Gauge(
            "chatcli_indexing_backlog",
            "Messages waiting for a vector of the current embedding model (long-term memory), "
            "as the indexer last counted them.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.indexed_messages = Counter(
            "chatcli_indexed_messages",
            "Vectors stored by this server's indexer.",
            registry=registry,
        )
        self.store_errors = Counter(
            "chatcli_store_errors",
            "Times the memory store could not answer (StoreUnavailable), by who asked.",
            ["source"],
            registry=registry,
        )
        for source in ("request", "compaction"):
            self.store_errors.labels(source)
        self._waiting_since: float | None = None
        self._scrape = self.registry
        if self.multiprocess:
            self._scrape = CollectorRegistry()
            MultiProcessCollector(self._scrape)

    def render(self) -> bytes:
        """The exposition text: this app's instruments, or every worker's in multiprocess mode."""
        self.refresh_age()
        return generate_latest(self._scrape)

    def refresh_age(self) -> None:
        since = self._waiting_since
        self.oldest_age.set(0.0 if since is None else max(0.0, time.time() - since))

    @contextlib.asynccontextmanager
    async def running_refresher(self) -> AsyncIterator[None]:
        """While the app runs, keep this worker's waiting age fresh for the others' scrapes."""
        if not self.multiprocess:
            yield
            return
        task = asyncio.get_running_loop().create_task(self._refresh_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh_forever(self) -> None:
        while True:
            self.refresh_age()
            await asyncio.sleep(AGE_REFRESH_SECONDS)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request: the whole per-request cost of the metrics."""
        shown = method if method in METHODS else "other"
        code = str(status)
        self.requests.labels(shown, route, code).inc()
        self.duration.labels(shown, route, code).observe(seconds)

    def store_failed(self, source: str = "request") -> None:
        self.store_errors.labels(source).inc()

    # CompactionObserver (chatcli.server.compactor)

    def compactions(self, running: int, queued: int, waiting_since: float | None) -> None:
        self.running.set(running)
        self.queued.set(queued)
        self._waiting_since = waiting_since
        if self.multiprocess:
            self.refresh_age()

    def summary_failed(self, store_error: bool) -> None:
        self.failed.inc()
        if store_error:
            self.store_failed("compaction")

    def summary_retried(self) -> None:
        self.retried.inc()

    def summarized(self, tokens: int) -> None:
        self.summaries.inc()
        self.summary_tokens.inc(max(0, tokens))

    # IndexingObserver (chatcli.server.indexer)

    def indexing(self, backlog: int) -> None:
        self.indexing_backlog.set(backlog)

    def indexed(self, count: int) -> None:
        self.indexed_messages.inc(max(0, count))


class RecordRequests:
    """Times each HTTP request and counts it by the matched route's path template.

    Read after the app ran: the router writes the route it matched into the scope it was
    handed (FastAPI's `scope["route"]`), which is this same dict."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else UNMATCHED
            self.metrics.record(scope["method"], template, status, time.perf_counter() - start)


class PidHeader:
    """`X-Chatcli-Pid` on every answer: which worker process answered (server.pid_header,
    for tests and debugging `--workers`; off by default)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"x-chatcli-pid", str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_pid)
