"""The server's hold on its embedding model: opened once, on first use, off the event loop.

The indexer and the search routes share one `EmbedderHandle`. Loading a model takes about a
second and embedding is CPU-bound, so both happen in a worker thread; a CLI command that
never searches never loads it (the DirectClient), and `chatcli serve` loads it before it
listens (`warm`), so a broken model is a start-up error rather than a log line.
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


class EmbedderHandle:
    def __init__(self, opener: Callable[[], Embedder]) -> None:
        self._open = opener
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbedderHandle:
        def opener() -> Embedder:
            from chatcli.recall.open import open_embedder

            return open_embedder(settings)

        return cls(opener)

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
