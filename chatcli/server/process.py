"""One serving process: its store, compactor and app under uvicorn, until a signal.

`chatcli serve` runs one of these in its own process, or N of them as workers
(workers.py), and both start and stop them the same way. At SIGTERM or SIGINT uvicorn
stops accepting and lets in-flight requests finish (for up to GRACEFUL_SECONDS); then the
app's lifespan stops the compactor, which cancels its summaries and releases the session
locks it holds, and closes the store.
"""

from __future__ import annotations

import asyncio
import copy
import signal
import socket
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from chatcli.config import Settings
from chatcli.errors import ChatcliError
from chatcli.server.errors import SetupError, StoreUnavailable

if TYPE_CHECKING:
    from chatcli.server.embedding import EmbedderHandle
    from chatcli.server.store import Store
    from chatcli.server.summary import Summarizer

GRACEFUL_SECONDS = 10
"""uvicorn's bound on in-flight requests at shutdown; the compactor then releases its locks."""


def build_server(
    settings: Settings, stderr: IO[str], no_color: bool, *, multiprocess: bool = False
) -> tuple[Any, Store]:
    """The uvicorn server of one serving process, and the store it opened (not yet pinged);
    `multiprocess` for a worker of `--workers N`, whose metrics go to the shared files."""
    import uvicorn

    from chatcli.server.app import create_app
    from chatcli.server.compactor import build_compactor
    from chatcli.server.http_limits import HttpLimits, uvicorn_options
    from chatcli.server.indexer import build_indexer
    from chatcli.server.metrics import Metrics
    from chatcli.server.stores import open_store

    server_settings = settings.server
    store = open_store(server_settings)
    compactor = build_compactor(store, settings, worker_processes=True)
    if compactor is not None:
        warm_summarizer(compactor.summarizer)
    indexer = build_indexer(store, settings, worker_process=True)
    if indexer is not None:
        warm_embedder(indexer.embedder)
    app = create_app(
        store,
        server_settings,
        compactor,
        Metrics(multiprocess=multiprocess),
        embedder=indexer.embedder if indexer is not None else None,
        indexer=indexer,
    )
    config = uvicorn.Config(
        app,
        log_config=logging_config(stderr, no_color),
        log_level=server_settings.log_level,
        access_log=True,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        **uvicorn_options(HttpLimits.from_settings(server_settings)),
    )
    return uvicorn.Server(config), store


def run_serving(
    server: Any, store: Store, sock: socket.socket, on_ready: Callable[[], None] | None = None
) -> None:
    """`serve_until_signal` on the event loop uvicorn picks (uvloop where it is installed:
    profiled, asyncio's own loop and transports were a fifth of a request's cost)."""
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(serve_until_signal(server, store, sock, on_ready))


async def serve_until_signal(
    server: Any, store: Store, sock: socket.socket, on_ready: Callable[[], None] | None = None
) -> None:
    """Ping the store on the loop that will use it, then serve until a signal.

    uvicorn re-raises the signal that stopped it once it has shut down; the handlers
    installed here absorb that, so Ctrl-C and SIGTERM end with exit 0, not 130 or -15.
    `on_ready` is called once the store answered, just before serving.
    """

    def stop(*_: Any) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            await store.ping()
        except StoreUnavailable:
            await store.close()
            raise
        except Exception as exc:
            await store.close()
            raise StoreUnavailable(
                str(exc) or f"the {store.name} memory store is not answering"
            ) from None
        if on_ready is not None:
            on_ready()
        if not server.should_exit:
            await server.serve(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def warm_summarizer(summarizer: Summarizer | None) -> None:
    """Build the summarizer's model before listening (see Summarizer.warm)."""
    if summarizer is None:
        return
    try:
        summarizer.warm()
    except ChatcliError as exc:
        raise type(exc)(f"{exc.message} (or serve without summaries: --no-summarize)") from None


def warm_embedder(embedder: EmbedderHandle) -> None:
    """Open the embedding model before listening, so a missing one stops the start."""
    from chatcli.recall.errors import EmbedderError

    try:
        embedder.warm()
    except EmbedderError as exc:
        raise SetupError(f"{exc.message} (or serve without it: --no-long-term-memory)") from None


def logging_config(stderr: IO[str], no_color: bool) -> dict[str, Any]:
    """uvicorn's own format, with its access lines on stderr too: stdout stays empty."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler.pop("stream", None)
        handler["stream"] = stderr
    if no_color:
        for formatter in config["formatters"].values():
            formatter["use_colors"] = False
    return config
