"""Background indexing for recall: every message gets a vector, once, off the request path.

A POST writes its messages (and their keyword entries) and returns; it only calls `notify`.
What is still to embed is the store's durable state (`Store.unindexed`), so a process killed
between a POST and its indexing, an older database, or a change of model all leave work that
the next indexer finds by itself: nothing lives in a queue in memory. One indexer works at a
time across processes and replicas (the store's lock named INDEXER_LOCK, which no session id
can be); the others poll and take over when it dies (its lock expires). A vector is stored
only for the message version it was computed from (`ToEmbed.mark`) and only once per model, so
an indexer that dies after embedding merely repeats that batch's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chatcli.server.embedding import EmbedderHandle
from chatcli.server.store import Store, ToEmbed

if TYPE_CHECKING:
    from chatcli.config import Settings

log = logging.getLogger("chatcli.server.indexer")

INDEXER_LOCK = "*indexer"
"""The lock's name in the store's session-lock space: no valid session id starts with '*'."""
BATCH = 64
"""Messages embedded per call: large enough to amortize the model's per-call cost, small
enough that the lock is refreshed (and a stop takes effect) often."""
POLL_SECONDS = 2.0
"""How often an idle indexer looks for messages other processes wrote."""
SETTLE_SECONDS = 0.2
"""How long a woken indexer lets writes gather before it looks: under a stream of POSTs it
then works in batches a few times a second instead of one round of store calls per POST."""
LOCK_TTL = 60.0
"""How long a dead indexer keeps the others from the backlog."""
PROGRESS_SECONDS = 10.0
"""A long backlog logs its progress this often."""
LOG_BACKLOG = 500
"""Backlogs from this size on are announced and their progress logged."""
MAX_BACKOFF = 60.0

Progress = Callable[[int, int], None]
"""Called with (indexed so far, backlog at the start) after each batch."""


class IndexingObserver(Protocol):
    """What the indexer tells whoever watches it (the server's metrics)."""

    def indexing(self, backlog: int) -> None:
        """Messages without a vector of the current model, as last counted."""

    def indexed(self, count: int) -> None:
        """`count` more vectors were stored."""


class Unobserved:
    def indexing(self, backlog: int) -> None:
        pass

    def indexed(self, count: int) -> None:
        pass


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: EmbedderHandle,
        *,
        batch: int = BATCH,
        poll: float = POLL_SECONDS,
        lock_ttl: float = LOCK_TTL,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.batch = batch
        self.poll = poll
        self.lock_ttl = lock_ttl
        self.settle = settle
        self.owner = f"indexer-{uuid.uuid4().hex}"
        self.observer: IndexingObserver = Unobserved()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def report_to(self, observer: IndexingObserver) -> None:
        self.observer = observer

    def notify(self) -> None:
        """Called after a write: index soon. Returns at once, from the loop or any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the next start indexes
                loop.call_soon_threadsafe(wake.set)

    async def start(self) -> None:
        """Index in the background from now on, beginning with what is already stored."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run(), name="recall-indexer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._loop = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.embedder.close)

    async def _run(self) -> None:
        backoff = 1.0
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                if await self.store.try_lock(INDEXER_LOCK, self.owner, self.lock_ttl):
                    try:
                        await self.index_backlog()
                    finally:
                        await self.store.unlock(INDEXER_LOCK, self.owner)
                else:
                    self.observer.indexing(await self.store.backlog(await self.embedder.model()))
                backoff = 1.0
                wait = self.poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("indexing for recall failed (%s); retrying in %.0fs", exc, backoff)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
                await asyncio.sleep(self.settle)

    async def index_now(
        self, progress: Progress | None = None, waiting: Callable[[], None] | None = None
    ) -> int:
        """Take the lock (calling `waiting` once if another indexer holds it, and waiting
        for it to let go), index the whole backlog, let go; how many vectors were stored."""
        told = False
        while not await self.store.try_lock(INDEXER_LOCK, self.owner, self.lock_ttl):
            if waiting is not None and not told:
                waiting()
                told = True
            await asyncio.sleep(self.poll)
        try:
            return await self.index_backlog(progress)
        finally:
            await self.store.unlock(INDEXER_LOCK, self.owner)

    async def index_backlog(self, progress: Progress | None = None) -> int:
        """Embed and store every message without a vector of the current model; returns how
        many vectors were stored. The caller holds INDEXER_LOCK (`reindex` and `_run` do)."""
        model = await self.embedder.model()
        backlog = await self.store.backlog(model)
        self.observer.indexing(backlog)
        if backlog == 0:
            return 0
        loud = backlog >= LOG_BACKLOG
        if loud:
            log.info("indexing %d messages for recall (model %s)", backlog, model)
        started = last_line = time.monotonic()
        done = 0
        previous: list[ToEmbed] = []
        while batch := await self.store.unindexed(model, self.batch):
            if batch == previous:
                break  # nothing of the last batch was stored: not ours to index
            previous = batch
            name, vectors = await self.embedder.embed_batch([item.text for item in batch])
            if not await self.store.refresh_lock(INDEXER_LOCK, self.owner, self.lock_ttl):
                log.warning("lost the recall indexing lock; another indexer goes on")
                break
            rows = vectors.astype("<f4", copy=False)
            stored = await self.store.add_vectors(
                name, [(item, rows[i].tobytes()) for i, item in enumerate(batch)]
            )
            done += stored
            self.observer.indexed(stored)
            self.observer.indexing(max(0, backlog - done))
            if progress is not None:
                progress(done, backlog)
            now = time.monotonic()
            if loud and now - last_line >= PROGRESS_SECONDS:
                last_line = now
                rate = done / max(now - started, 1e-9)
                log.info("indexed %d of %d messages for recall (%.0f/s)", done, backlog, rate)
        remaining = await self.store.backlog(model)
        self.observer.indexing(remaining)
        if loud:
            elapsed = time.monotonic() - started
            log.info(
                "indexed %d messages for recall in %.1fs (%.0f/s)",
                done,
                elapsed,
                done / max(elapsed, 1e-9),
            )
        return done


def build_indexer(store: Store, settings: Settings, worker_process: bool = False) -> Indexer | None:
    """The indexer long-term memory needs, or None when it is off; its model is opened on
    first use (EmbedderHandle.warm opens it sooner). `worker_process`: its batches are
    embedded in a worker process (`chatcli serve`; the embedded server keeps one process)."""
    if not settings.server.long_term_memory:
        return None
    return Indexer(store, EmbedderHandle.from_settings(settings, batch_process=worker_process))
