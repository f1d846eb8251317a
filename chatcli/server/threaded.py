"""Serving an ASGI app from a thread of this process: uvicorn on a loopback socket it binds.

The embedded server (embedded.py) is built on it, and the tests use it as the real part it
is to serve apps of their own; it knows nothing about memory, stores or settings.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chatcli.server.errors import ServeError

if TYPE_CHECKING:
    from chatcli.server.http_limits import HttpLimits


class ThreadedServer:
    """uvicorn serving `app` on 127.0.0.1 (a free port unless given) from a daemon thread."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "error",
        limits: HttpLimits | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.host = host
        self.port = port
        self.log_level = log_level
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Serve, and return the base URL once the app has started and the port listens."""
        import uvicorn

        from chatcli.server.http_limits import HttpLimits, uvicorn_options

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it each response waits out a 40 ms delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=self.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            **uvicorn_options(self.limits or HttpLimits()),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._main, args=(sock,), name="chatcli-memory-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ServeError(f"the embedded memory server did not start within {timeout}s")
        if self._failure is not None or not self._server.started:
            self._thread.join(5)
            raise ServeError(f"the embedded memory server failed to start: {self._failure}")
        return self.url

    def _main(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # a failed start is reported to start(), not lost here
            self._failure = exc
        finally:
            self._ready.set()
            sock.close()
            loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.002)
        self._ready.set()
        await task

    def call(self, fn: Callable[[], Awaitable[Any]], timeout: float) -> Any:
        """Run a coroutine on the server's loop from another thread and wait for it."""
        if self._loop is None or self._loop.is_closed():
            return None
        future = asyncio.run_coroutine_threadsafe(_awaited(fn), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


async def _awaited(fn: Callable[[], Awaitable[Any]]) -> Any:
    return await fn()
