"""Background compaction: keep every session within its window by summarizing its oldest part.

A POST only calls `after_append`, which schedules work and returns; the LLM runs later in
a task of this process. Safety comes from the store, not from timing: the store's lock
keeps one compaction per session across processes and replicas, and `pending` /
`commit_summary` remove exactly the messages that were summarized, whatever was posted or
deleted meanwhile. A failed LLM call changes nothing and is retried with backoff (doubling
up to a minute; the first summary that goes through wakes the other sessions' jobs, so an
outage's end is seen within one retry, not one backoff per session); a process that dies
mid-summary leaves the messages in place for `start()` (here or in another replica) to
pick up.

The same job rebuilds a session's summary when a message it covered was edited or deleted
(the store keeps a persistent stale mark): under the same lock, so one rebuild or
compaction runs per session across replicas, from the transcript's summarized messages in
order, with the old summary in place until the rebuilt one is committed; the stale mark
survives a failed LLM (retried with backoff) or a killed process (resumed by `start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from chatcli.server.errors import StoreUnavailable
from chatcli.server.store import Pending, Store
from chatcli.server.summary import failure_line

if TYPE_CHECKING:
    from chatcli.config import Settings
    from chatcli.local_models import LocalModels
    from chatcli.server.summary import Summarizer
    from chatcli.server.summary_workers import LLMSummarizer, ProcessSummarizer

log = logging.getLogger("chatcli.server.compactor")

FIRST_BACKOFF = 0.5
LOCK_TTL = 10.0
"""How long a replica that died mid-summary keeps others from its session's compaction; a
live one refreshes its lock every third of this, however slow its LLM."""
MAX_CONCURRENT = 4
"""Summaries running at once in one process; more would only queue inside the LLM."""


class Outcome(Enum):
    """What one summary under the lock left to do."""

    DONE = "done"
    """The session is within its window (or gone): nothing left."""
    AGAIN = "again"
    """Still over the window: summarize once more."""
    LOCKED = "locked"
    """Someone else holds (or held, and died with) the session's lock."""


class CompactionObserver(Protocol):
    """What the compactor tells whoever watches it (the server's metrics)."""

    def compactions(self, running: int, queued: int, waiting_since: float | None) -> None:
        """Summaries holding a lock now, sessions waiting for one, and when (unix seconds)
        the longest-waiting of all these sessions was first seen over its window."""

    def summary_failed(self, store_error: bool) -> None:
        """An attempt failed; `store_error` when the store, not the LLM, failed it."""

    def summary_retried(self) -> None:
        """An attempt started again after a failure."""

    def summarized(self, tokens: int) -> None:
        """A summary of `tokens` tokens was committed."""


class Unobserved:
    """The observer of a compactor nobody watches."""

    def compactions(self, running: int, queued: int, waiting_since: float | None) -> None:
        pass

    def summary_failed(self, store_error: bool) -> None:
        pass

    def summary_retried(self) -> None:
        pass

    def summarized(self, tokens: int) -> None:
        pass


@dataclass
class _Job:
    """The one task compacting a session in this process, and its wake-up call."""

    task: asyncio.Task | None = None
    since: float = field(default_factory=time.time)
    """When this process saw the session over its window (unix seconds)."""
    again: bool = False
    """A POST arrived while the job ran: look at the session once more before finishing."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    retry: asyncio.Event = field(default_factory=asyncio.Event)
    """Another session's summary just succeeded: a job backing off retries at once."""


class Compactor:
    def __init__(
        self,
        store: Store,
        window: int,
        summarizer: Summarizer | None,
        *,
        lock_ttl: float = LOCK_TTL,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = 60.0,
    ) -> None:
        self.store = store
        self.window = window
        self.keep = window // 2
        self.summarizer = summarizer
        self.lock_ttl = lock_ttl
        self.first_backoff = min(first_backoff, max_backoff)
        self.max_backoff = max_backoff
        self.owner = f"compactor-{uuid.uuid4().hex}"
        self._jobs: dict[str, _Job] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._stopping = False
        self._summarizing = 0
        """Compactions between taking the lock and letting it go, which `drain` waits for."""
        self.observer: CompactionObserver = Unobserved()

    def report_to(self, observer: CompactionObserver) -> None:
        self.observer = observer
        self._report()

    def _report(self) -> None:
        running = self._summarizing
        since = min((job.since for job in self._jobs.values()), default=None)
        self.observer.compactions(running, max(0, len(self._jobs) - running), since)

    def after_append(self, session_id: str, count: int) -> None:
        """Called by the API after each POST; returns at once, from the loop or any thread."""
        if count <= self.window or self.summarizer is None or self._stopping:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop or running
        if loop is None:
            return
        if running is loop:
            self._schedule(session_id)
        else:
            loop.call_soon_threadsafe(self._schedule, session_id)

    def after_change(self, session_id: str) -> None:
        """Called by the API after an edit or delete of a summarized message: rebuild soon."""
        self.after_append(session_id, self.window + 1)

    async def start(self) -> None:
        """Resume what a previous process (or a dead replica) left over the window."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        if self.summarizer is None:
            return
        for session_id in await self.store.sessions_over(self.window):
            self._schedule(session_id)
        for session_id in await self.store.sessions_to_rebuild():
            self._schedule(session_id)

    async def drain(self, timeout: float) -> None:
        """Let the summaries already at the LLM land (for up to `timeout` seconds), start no
        new ones, then stop. Jobs only waiting (a backoff, another replica's lock) are not
        waited for: their messages stay stored until a later start."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self._summarizing and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await self.stop()

    async def stop(self) -> None:
        self._stopping = True
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._jobs.clear()
        self._report()
        if self.summarizer is not None:
            self.summarizer.close()

    def busy(self) -> bool:
        """Whether any session's compaction is scheduled or running in this process."""
        return bool(self._jobs)

    def _schedule(self, session_id: str) -> None:
        if self._stopping:
            return
        job = self._jobs.get(session_id)
        if job is not None:
            job.again = True
            job.wake.set()
            return
        job = _Job()
        self._jobs[session_id] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run(session_id, job), name=f"compact:{session_id}"
        )
        self._report()

    async def _run(self, session_id: str, job: _Job) -> None:
        """Compact until the session is within the window; the only task for this session here."""
        backoff = self.first_backoff
        try:
            while True:
                job.again = False
                job.wake.clear()
                job.retry.clear()  # a success from now on, even during this try, wakes it
                try:
                    outcome = await self._compact_once(session_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "summary of session %r failed (%s); retrying in %.1fs",
                        session_id,
                        failure_line(exc),
                        backoff,
                    )
                    self.observer.summary_failed(isinstance(exc, StoreUnavailable))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(job.retry.wait(), backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    self.observer.summary_retried()
                    continue
                backoff = self.first_backoff
                if outcome is Outcome.LOCKED:
                    # Someone else compacts it, or died holding the lock: look again when
                    # the lock must have expired, or sooner when a POST hints there is work.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(job.wake.wait(), self.lock_ttl)
                    continue
                if outcome is Outcome.AGAIN:
                    continue
                if not job.again:
                    return
        finally:
            if self._jobs.get(session_id) is job:
                del self._jobs[session_id]
                self._report()

    async def _compact_once(self, session_id: str) -> Outcome:
        """One summary under the lock."""
        assert self.summarizer is not None
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        async with self._slots:
            if self._stopping:
                return Outcome.DONE
            stale = await self.store.needs_rebuild(session_id)
            if not stale and await self.store.count(session_id) <= self.window:
                return Outcome.DONE
            if not await self.store.try_lock(session_id, self.owner, self.lock_ttl):
                return Outcome.LOCKED
            self._summarizing += 1
            self._report()
            try:
                if stale:
                    await self._rebuild_holding_lock(session_id)
                    return Outcome.AGAIN
                pending = await self.store.pending(session_id, keep=self.keep)
                if pending is None:
                    return Outcome.DONE
                summary, tokens = await self._summarize_holding_lock(pending)
                if not await self.store.refresh_lock(session_id, self.owner, self.lock_ttl):
                    # The lock expired and may be someone else's now: let them finish.
                    return Outcome.LOCKED
                if await self.store.commit_summary(pending, summary, tokens):
                    self.observer.summarized(tokens)
                    self._retry_backed_off()
            finally:
                self._summarizing -= 1
                self._report()
                await self.store.unlock(session_id, self.owner)
            over = await self.store.count(session_id) > self.window
            return Outcome.AGAIN if over else Outcome.DONE

    def _retry_backed_off(self) -> None:
        """A summary went through, so the LLM and the store answer again: jobs waiting out
        a backoff (up to a minute after a long outage) try now instead."""
        for job in self._jobs.values():
            job.retry.set()

    async def _rebuild_holding_lock(self, session_id: str) -> None:
        """The summary afresh from every summarized message; not committed when the
        messages changed again meanwhile (the mark is then newer: the job goes again)."""
        rebuild = await self.store.rebuild_pending(session_id)
        if rebuild is None:
            return
        summary: str | None = None
        tokens = 0
        if rebuild.messages:
            summary, tokens = await self._summarize_holding_lock(
                Pending(session_id, rebuild.messages, None, None)
            )
        if await self.store.refresh_lock(session_id, self.owner, self.lock_ttl):
            await self.store.commit_rebuild(rebuild, summary, tokens)

    async def _summarize_holding_lock(self, pending: Pending) -> tuple[str, int]:
        """Run the summary while a side task keeps the lock alive, however slow the LLM is."""
        assert self.summarizer is not None

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(self.lock_ttl / 3)
                await self.store.refresh_lock(pending.session_id, self.owner, self.lock_ttl)

        refresher = asyncio.get_running_loop().create_task(keep_alive())
        try:
            return await self.summarizer.summarize(pending.context, pending.messages)
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await refresher


def build_compactor(
    store: Store,
    settings: Settings,
    *,
    worker_processes: bool = False,
    models: LocalModels | None = None,
) -> Compactor | None:
    """The compactor the settings ask for; the LLM behind it is only built on first use.

    `worker_processes` is for `chatcli serve`: summaries in processes of their own, off
    the request path's GIL (see ProcessSummarizer). Otherwise summaries run on threads
    here, with a local model loaded by `models`: the command's, shared with its chat.
    """
    if not settings.server.summarize:
        return None
    from chatcli.server.summary_workers import LLMSummarizer, ProcessSummarizer

    summarizer: LLMSummarizer | ProcessSummarizer = (
        ProcessSummarizer(settings.llm) if worker_processes else LLMSummarizer(settings.llm, models)
    )
    return Compactor(store, settings.server.window, summarizer)
