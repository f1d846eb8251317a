"""The indexer's embedding in a worker process: `chatcli serve`'s.

Embedding a batch is CPU work (a tokenizer, numpy) that in the server's process shares the
GIL and the cores with the event loop answering requests: with the indexer embedding while
POSTs arrived, a POST's p99 was 2-3x what it is with the indexer idle. In a spawned process
of its own, a batch costs the server two pickles. A search's one-line query stays in the
server's process (EmbedderHandle), so it never waits behind a batch.

`ProcessEmbedder` is an `Embedder` like any other: the indexer does not know where its
vectors are computed. The worker opens the same model from the same settings, so the vectors
carry the same name as the server's own. It is started on the first batch (a server with
nothing to index never spawns it), serves one batch at a time, and ends with the server: its
pipe closes, or a watcher sees the server gone. A worker that died is replaced at the next
batch; the batch it was computing fails, and the indexer retries it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chatcli.recall.errors import EmbedderError
from chatcli.server import spawned

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    import numpy as np

    from chatcli.config import Settings

NICENESS = 10
"""Where the cores are busy, the OS serves the server's requests before the backlog."""


class _Worker:
    """One spawned process and our end of its pipe."""

    def __init__(self, settings: Settings) -> None:
        self.process: BaseProcess
        self.broken = False
        """Its pipe failed: the process is gone or going (it may not be reaped yet)."""
        self.process, self.conn = spawned.start(_serve_batches, settings, "chatcli-embedder")
        try:
            self.name, self.dim = self._answer()
        except EmbedderError:
            self.stop()
            raise

    def embed(self, texts: list[str]) -> np.ndarray:
        try:
            self.conn.send(texts)
        except (OSError, ValueError):
            raise self._died() from None
        return self._answer()

    def _answer(self) -> Any:
        try:
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if not ok:
            raise EmbedderError(value)
        return value

    def _died(self) -> EmbedderError:
        self.broken = True
        return EmbedderError(f"the embedding worker process {self.process.pid} ended")

    def stop(self) -> None:
        spawned.stop(self.process, self.conn)


class ProcessEmbedder:
    """An `Embedder` whose work runs in a worker process (see the module's doc)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._worker: _Worker | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        with self._lock:
            return self._running().name

    @property
    def dim(self) -> int:
        with self._lock:
            return self._running().dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            worker = self._running()
            try:
                return worker.embed(list(texts))
            except EmbedderError:
                if worker.broken:
                    self._stop()
                raise

    def pid(self) -> int | None:
        """The worker's process id, once it runs (for the operator's tools and the tests)."""
        with self._lock:
            return None if self._worker is None else self._worker.process.pid

    def close(self) -> None:
        """Stop the worker; a later batch starts another."""
        with self._lock:
            self._stop()

    def _running(self) -> _Worker:
        if self._worker is None:
            self._worker = _Worker(self._settings)
        return self._worker

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()


def _serve_batches(settings: Settings, conn: Connection, server_pid: int) -> None:
    """A worker's life: open the model, say its name and dimension, then embed what comes
    until the server goes away. Failures go back as their one-line message (an exception
    does not reliably survive pickling)."""
    spawned.begin(server_pid)
    os.nice(NICENESS)
    from chatcli.recall.open import open_embedder

    try:
        embedder = open_embedder(settings)
        hello: tuple[bool, Any] = (True, (embedder.name, embedder.dim))
    except Exception as exc:
        conn.send((False, _message(exc)))
        return
    conn.send(hello)
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, Any] = (True, embedder.embed(texts))
        except Exception as exc:
            answer = (False, _message(exc))
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return


def _message(exc: Exception) -> str:
    if isinstance(exc, EmbedderError):
        return exc.message
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"embedding failed: {type(exc).__name__}: {first}"
