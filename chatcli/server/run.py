"""`chatcli serve`: the memory server as a foreground process.

Everything that can be wrong is checked before uvicorn starts, and each failure is one
of the server's errors (chatcli.server.errors) with one line naming the fix: a public
bind without a key (exit 2), an unreachable store or a port in use (exit 1). The socket
is bound here rather than by uvicorn for that reason. Ctrl-C and SIGTERM stop the
server cleanly with exit 0: uvicorn stops accepting, lets in-flight requests finish (for
up to GRACEFUL_SECONDS), then the app's lifespan stops the compactor, which cancels its
summaries and releases the session locks it holds. With `--workers N` (workers.py) this
process binds the socket and supervises N serving processes that inherit it.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import ipaddress
import signal
import socket
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from chatcli.config import Settings, resolve_provider
from chatcli.env import Environment
from chatcli.errors import ChatcliError
from chatcli.server.errors import ServeError, SetupError, StoreUnavailable

if TYPE_CHECKING:
    from chatcli.server.store import Store
    from chatcli.server.summary import Summarizer

GRACEFUL_SECONDS = 10
"""uvicorn's bound on in-flight requests at shutdown; the compactor then releases its locks."""


def serve(env: Environment, settings: Settings) -> None:
    server_settings = settings.server
    check_exposure(server_settings.host, server_settings.api_key, server_settings.allow_public)
    check_workers(server_settings.workers)
    if server_settings.workers > 1:
        from chatcli.server.workers import serve_workers

        serve_workers(env, settings)
        return
    server, store = build_server(settings, env.stderr, env.no_color)
    sock = bind(server_settings.host, server_settings.port)
    announce(env, settings, sock)
    try:
        asyncio.run(_serve(server, store, sock))
    finally:
        sock.close()


def build_server(
    settings: Settings, stderr: IO[str], no_color: bool, *, multiprocess: bool = False
) -> tuple[Any, Store]:
    """The uvicorn server of one serving process, and the store it opened (not yet pinged);
    `multiprocess` for a worker of `--workers N`, whose metrics go to the shared files."""
    import uvicorn

    from chatcli.server.app import create_app
    from chatcli.server.compactor import build_compactor
    from chatcli.server.http_limits import HttpLimits, uvicorn_options
    from chatcli.server.metrics import Metrics
    from chatcli.server.stores import open_store

    server_settings = settings.server
    store = open_store(server_settings)
    compactor = build_compactor(store, settings, worker_processes=True)
    if compactor is not None:
        warm_summarizer(compactor.summarizer)
    app = create_app(store, server_settings, compactor, Metrics(multiprocess=multiprocess))
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


def announce(env: Environment, settings: Settings, sock: socket.socket) -> None:
    """The start-up line: where, on what, and how."""
    from chatcli.server.stores import describe

    server_settings = settings.server
    url = base_url(server_settings.host, sock.getsockname()[1])
    workers = server_settings.workers
    print(
        f"chatcli serve: listening on {url} (store {describe(server_settings)}, "
        f"window {server_settings.window}, summarizer {summarizer_label(settings)}"
        f"{f', {workers} workers' if workers > 1 else ''}"
        f"{', API key required' if server_settings.api_key else ''}); docs at {url}/docs",
        file=env.stderr,
        flush=True,
    )
    if server_settings.long_term_memory:
        print(
            "chatcli serve: long-term memory (MOTORHEAD_LONG_TERM_MEMORY) is not available; "
            "/sessions/{id}/retrieval answers 400 as Motörhead does with it off",
            file=env.stderr,
            flush=True,
        )


def check_workers(workers: int) -> None:
    if workers < 1:
        raise SetupError(f"server.workers must be at least 1, got {workers}: fix --workers")


async def _serve(
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


def check_exposure(host: str, api_key: str | None, allow_public: bool) -> None:
    """Memory holds conversations: only loopback is open without a key, unless told."""
    if api_key or allow_public or is_loopback(host):
        return
    raise SetupError(
        f"refusing to serve on {host} without an API key: set --api-key "
        "(or CHATCLI_SERVER_API_KEY), bind 127.0.0.1, or pass --allow-public"
    )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    host = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host}: {exc}; check --host") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is in use: stop the other server or choose --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise ServeError(
                f"not allowed to listen on {host}:{port}: choose a port above 1023 with --port"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}; check --host") from None
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    host = host.strip("[]")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def summarizer_label(settings: Settings) -> str:
    if not settings.server.summarize:
        return "off"
    llm = settings.llm
    provider = resolve_provider(llm)
    if provider == "openai":
        where = f" at {llm.base_url}" if llm.base_url else ""
        return f"openai {llm.model}{where}"
    return f"local {llm.local_model_path or 'bundled Gemma 3 270M'}"


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
