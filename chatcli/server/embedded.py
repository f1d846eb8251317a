"""The memory server inside the CLI: the same app on a loopback port for one command's life.

`EmbeddedServer` is what lets `chatcli chat` work with nothing started first. It runs
uvicorn in a background thread with its own event loop, on a socket it binds itself
(port 0, so two commands never race for a port), over the SQLite file `chatcli serve`
uses by default. The compactor's LLM is built only when a summary is first needed, so a
command that never fills its window never loads a model; the recall indexer opens its
embedding model in a worker thread once it has something to index.

The thread, loop and socket are chatcli.server.threaded's `ThreadedServer`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from chatcli.config import Settings
from chatcli.server.errors import ServeError
from chatcli.server.threaded import ThreadedServer

if TYPE_CHECKING:
    from chatcli.local_models import LocalModels
    from chatcli.server.compactor import Compactor

DRAIN_TIMEOUT = 30.0
"""How long leaving a command waits for summaries already running, so they are stored."""


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
        self.compactor: Compactor | None = None
        self._server: ThreadedServer | None = None

    def __enter__(self) -> str:
        from chatcli.server.app import create_app
        from chatcli.server.compactor import build_compactor
        from chatcli.server.http_limits import HttpLimits
        from chatcli.server.indexer import build_indexer
        from chatcli.server.sqlite_store import SQLiteStore

        server_settings = replace(self.settings.server, store="sqlite", api_key=None)
        if not server_settings.db:
            raise ServeError("server.db is not set: the embedded server needs a file")
        store = SQLiteStore(server_settings.db)
        settings = replace(self.settings, server=server_settings)
        self.compactor = build_compactor(store, settings, models=self.models)
        indexer = build_indexer(store, settings)
        app = create_app(
            store,
            server_settings,
            self.compactor,
            embedder=indexer.embedder if indexer is not None else None,
            indexer=indexer,
        )
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
