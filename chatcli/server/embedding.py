"""The server's hold on its embedding model: opened once, on first use, off the event loop.

The indexer and the search routes share one `EmbedderHandle`. Loading a model takes about a
second and embedding is CPU-bound, so both happen in a worker thread; a CLI command that
never searches never loads it (the DirectClient), and `chatcli serve` loads it before it
listens (`warm`), so a broken model is a start-up error rather than a log line. `chatcli
serve` also embeds the indexer's batches in a worker process (embedding_worker.py), so they
hold neither the GIL nor the event loop's core against requests; queries stay here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from chatcli.recall.embedder import Embedder

if TYPE_CHECKING:
    import numpy as np

    from chatcli.config import Settings
    from chatcli.server.embedding_worker import ProcessEmbedder


class EmbedderHandle:
    def __init__(
        self, opener: Callable[[], Embedder], batches: ProcessEmbedder | None = None
    ) -> None:
        self._open = opener
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._batches = batches

    @classmethod
    def from_settings(cls, settings: Settings, batch_process: bool = False) -> EmbedderHandle:
        """`batch_process`: the indexer's batches in a worker process (`chatcli serve`)."""

        def opener() -> Embedder:
            from chatcli.recall.open import open_embedder

            return open_embedder(settings)

        if not batch_process:
            return cls(opener)
        from chatcli.server.embedding_worker import ProcessEmbedder

        return cls(opener, ProcessEmbedder(settings))

    def warm(self) -> Embedder:
        """The embedder, opened now if it was not (blocking; raises the recall errors)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._open()
            return self._embedder

    async def model(self) -> str:
        """The name the vectors it makes are tagged with."""
        return (await asyncio.to_thread(self.warm)).name

    async def embed(self, texts: Sequence[str]) -> tuple[str, np.ndarray]:
        """The model's name and the texts' unit vectors, computed in a worker thread."""

        def work() -> tuple[str, np.ndarray]:
            embedder = self.warm()
            return embedder.name, embedder.embed(texts)

        return await asyncio.to_thread(work)

    async def embed_batch(self, texts: Sequence[str]) -> tuple[str, np.ndarray]:
        """As `embed`, for the indexer: in the worker process when there is one."""
        batches = self._batches
        if batches is None:
            return await self.embed(texts)

        def work() -> tuple[str, np.ndarray]:
            return batches.name, batches.embed(texts)

        return await asyncio.to_thread(work)

    def close(self) -> None:
        """Stop the batch worker, if one was started."""
        if self._batches is not None:
            self._batches.close()
