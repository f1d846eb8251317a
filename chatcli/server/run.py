"""`chatcli serve`: the memory server as a foreground process.

Everything that can be wrong is checked before uvicorn starts, and each failure is one
of the server's errors (chatcli.server.errors) with one line naming the fix: a public
bind without a key (exit 2), an unreachable store or a port in use (exit 1). The socket
is bound here rather than by uvicorn for that reason. Ctrl-C and SIGTERM stop the
server cleanly with exit 0: uvicorn stops accepting, lets in-flight requests finish (for
up to GRACEFUL_SECONDS, process.py), then the app's lifespan stops the compactor, which cancels its
summaries and releases the session locks it holds. With `--workers N` (workers.py) this
process binds the socket and supervises N serving processes that inherit it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket

from chatcli.config import Settings, resolve_provider
from chatcli.env import Environment
from chatcli.server.errors import ServeError, SetupError
from chatcli.server.process import GRACEFUL_SECONDS, build_server, serve_until_signal

__all__ = ["GRACEFUL_SECONDS", "serve"]


def serve(env: Environment, settings: Settings) -> None:
    server_settings = settings.server
    check_exposure(server_settings.host, server_settings.api_key, server_settings.allow_public)
    check_workers(server_settings.workers)
    if server_settings.workers > 1:
        from chatcli.server.workers import serve_workers

        sock = bind(server_settings.host, server_settings.port)
        try:
            serve_workers(settings, sock, env.no_color, lambda: announce(env, settings, sock))
        finally:
            sock.close()
        return
    server, store = build_server(settings, env.stderr, env.no_color)
    sock = bind(server_settings.host, server_settings.port)
    announce(env, settings, sock)
    try:
        asyncio.run(serve_until_signal(server, store, sock))
    finally:
        sock.close()


def announce(env: Environment, settings: Settings, sock: socket.socket) -> None:
    """The start-up line: where, on what, and how."""
    from chatcli.server.stores import describe

    server_settings = settings.server
    url = base_url(server_settings.host, sock.getsockname()[1])
    workers = server_settings.workers
    print(
        f"chatcli serve: listening on {url} (store {describe(server_settings)}, "
        f"window {server_settings.window}, summarizer {summarizer_label(settings)}, "
        f"long-term memory {recall_label(settings)}"
        f"{f', {workers} workers' if workers > 1 else ''}"
        f"{', API key required' if server_settings.api_key else ''}); docs at {url}/docs",
        file=env.stderr,
        flush=True,
    )


def check_workers(workers: int) -> None:
    if workers < 1:
        raise SetupError(f"server.workers must be at least 1, got {workers}: fix --workers")


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


def recall_label(settings: Settings) -> str:
    if not settings.server.long_term_memory:
        return "off"
    return f"on ({settings.server.embedding} embeddings)"
