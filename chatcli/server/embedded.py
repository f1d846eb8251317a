"""The memory server inside the CLI: the same app on a loopback port for one command's life.

`EmbeddedServer` is what lets `chatcli chat` work with nothing started first. It runs
uvicorn in a background thread with its own event loop, on a socket it binds itself
(port 0, so two commands never race for a port), over the SQLite file `chatcli serve`
uses by default. The compactor's LLM is built only when a summary is first needed, so a
command that never fills its window never loads a model.

`ThreadedServer` is the part that runs any ASGI app that way; the tests use it too.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatcli.config import Settings
from chatcli.server.errors import ServeError

if TYPE_CHECKING:
    from chatcli.local_models import LocalModels
    from chatcli.server.http_limits import HttpLimits

DRAIN_TIMEOUT = 30.0
"""How long leaving a command waits for summaries already running, so they are stored."""


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


def log_to_file(path: Path) -> None:
    """Background summaries that fail (and are retried) deserve a record, not a line in
    the middle of the user's chat: the embedded server's own log goes to a file."""
    logger = logging.getLogger("chatcli.server")
    for old in [h for h in logger.handlers if getattr(h, "chatcli_embedded", False)]:
        if Path(old.baseFilename) == path.absolute():
            return
        logger.removeHandler(old)
        old.close()
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.chatcli_embedded = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False


class EmbeddedServer:
    """`with EmbeddedServer(settings) as url:` — the memory API for the life of a command.

    No API key is asked for: it listens on loopback only, on a port chosen for this run.
    """

    def __init__(
        self,
        settings: Settings,
        drain_timeout: float = DRAIN_TIMEOUT,
        models: LocalModels | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.drain_timeout = drain_timeout
        self.compactor: Any = None
        self._server: ThreadedServer | None = None

    def __enter__(self) -> str:
        from chatcli.server.app import create_app
        from chatcli.server.compactor import build_compactor
        from chatcli.server.http_limits import HttpLimits
        from chatcli.server.sqlite_store import SQLiteStore

        server_settings = replace(self.settings.server, store="sqlite", api_key=None)
        if not server_settings.db:
            raise ServeError("server.db is not set: the embedded server needs a file")
        store = SQLiteStore(server_settings.db)
        settings = replace(self.settings, server=server_settings)
        self.compactor = build_compactor(store, settings, models=self.models)
        app = create_app(store, server_settings, self.compactor)
        # Only critical lines: the CLI's stderr is the user's, and errors reach it as
        # JSON answers the client turns into one line.
        log_to_file(Path(server_settings.db).with_name("embedded-server.log"))
        limits = HttpLimits.from_settings(server_settings)
        self._server = ThreadedServer(app, log_level="critical", limits=limits)
        return self._server.start()

    def __exit__(self, *_: object) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        try:
            if self.compactor is not None:
                server.call(
                    lambda: self.compactor.drain(self.drain_timeout), self.drain_timeout + 5
                )
        except Exception:  # leaving must not fail: undone work resumes at the next start
            pass
        finally:
            server.stop()
