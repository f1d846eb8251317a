"""Two ways of running the summary (summary.py) against the configured LLM, with the
strategy that suits it (`strategy_for`: Motörhead's prompt, or facts for the bundled model).

`LLMSummarizer` runs it on threads of the caller's process: the embedded server's, so
the summary shares the chat's loaded model. `ProcessSummarizer` runs it in worker
processes of its own: `chatcli serve`'s, so the summary's Python work stays off the
request path's GIL. Both are a `chatcli.server.summary.Summarizer`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chatcli.errors import ChatcliError, LLMError
from chatcli.server import spawned
from chatcli.server.store import Message
from chatcli.server.summary import (
    SUMMARY_MAX_TOKENS,
    SYSTEM_MESSAGE,
    Strategy,
    SummaryFailed,
    chunk_budget,
    strategy_for,
    summarize_chunks,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from chatcli.config import LLMSettings
    from chatcli.local_models import LocalModels


class SummaryModel:
    """The summarizer's LLM, built on first use and then reused; calling it is one
    completion. Building it is what imports LangChain (or loads a local model), so a
    server that never needs a summary never pays for that. Both summarizers hold one:
    LLMSummarizer in the server's process, each of ProcessSummarizer's workers its own.
    """

    def __init__(self, llm_settings: LLMSettings, models: LocalModels | None = None) -> None:
        limit = min(llm_settings.max_tokens, SUMMARY_MAX_TOKENS)
        self._settings = replace(llm_settings, max_tokens=limit)
        self._models = models
        self._llm: Any = None
        self._lock = threading.Lock()

    def build(self) -> Any:
        with self._lock:
            if self._llm is None:
                from chatcli.llm import make_llm

                self._llm = make_llm(self._settings, streaming=False, models=self._models)
            return self._llm

    def __call__(self, prompt: str) -> tuple[str, int | None]:
        # No call lock here: chatcli.local_llm.LocalLLM takes its models' call lock around
        # every call itself, and the lock is not re-entrant.
        return _generate(self.build(), prompt)


def _generate(llm: Any, prompt: str) -> tuple[str, int | None]:
    """One completion, with the usage the provider reports when it reports any."""
    from langchain_core.language_models import BaseChatModel

    if isinstance(llm, BaseChatModel):
        from langchain_core.messages import HumanMessage, SystemMessage

        result = llm.generate([[SystemMessage(SYSTEM_MESSAGE), HumanMessage(prompt)]])
    else:
        result = llm.generate([prompt])
    generation = result.generations[0][0]
    usage = (result.llm_output or {}).get("token_usage") or {}
    reported = usage.get("total_tokens")
    if reported is None:
        metadata = getattr(getattr(generation, "message", None), "usage_metadata", None)
        if metadata:
            reported = metadata.get("total_tokens")
    return generation.text, reported


class LLMSummarizer:
    """Summaries on threads of the caller's process: the embedded server's, sharing the
    chat's loaded model through `models`. Calls run on a thread pool of their own: a slow
    LLM must not take the threads the request path uses.
    """

    def __init__(
        self,
        llm_settings: LLMSettings,
        models: LocalModels | None = None,
        strategy: Strategy | None = None,
    ) -> None:
        """`strategy` overrides the one the settings' provider gets (`strategy_for`)."""
        self._model = SummaryModel(llm_settings, models)
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="summarizer")
        self._budget = chunk_budget(llm_settings)
        self._strategy = strategy or strategy_for(llm_settings)

    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            summarize_chunks,
            self._model,
            context,
            messages,
            self._budget,
            self._strategy,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def warm(self) -> None:
        self._model.build()


class WorkerDied(Exception):
    """A summary's worker process ended (killed, out of memory) before answering; the
    compactor retries the summary, and the retry gets a fresh worker."""


@dataclass(frozen=True)
class Failure:
    """A worker's failure as plain data: exceptions do not reliably survive pickling
    (openai's APIConnectionError and APIStatusError do not), so none is ever sent."""

    kind: str
    """The exception's class name."""
    detail: str
    """Its first line."""
    llm_error: bool
    """chatcli's own LLMError, whose message is already the user's one-line error."""

    @classmethod
    def of(cls, exc: Exception) -> Failure:
        detail = exc.message if isinstance(exc, ChatcliError) else str(exc)
        first = detail.splitlines()[0] if detail else ""
        return cls(type(exc).__name__, first, isinstance(exc, LLMError))

    def exception(self) -> Exception:
        return LLMError(self.detail) if self.llm_error else SummaryFailed(self.kind, self.detail)


@dataclass(frozen=True)
class _Summarize:
    context: str | None
    messages: list[Message]
    budget: int
    strategy: Strategy


class _Warm:
    """Build the model now (see LLMSummarizer.warm)."""


_Request = _Summarize | _Warm


class _Worker:
    """One spawned process and our end of its pipe; it serves one request at a time."""

    def __init__(self, settings: LLMSettings) -> None:
        self.process: BaseProcess
        self.process, self.conn = spawned.start(_serve_requests, settings, "chatcli-summarizer")

    def ask(self, request: _Request) -> Any:
        try:
            self.conn.send(request)
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied(f"the summarizer's worker process {self.process.pid} ended") from None
        if not ok:
            raise value.exception()
        return value

    def stop(self) -> None:
        spawned.stop(self.process, self.conn)


class ProcessSummarizer:
    """Summaries in worker processes this object owns: `chatcli serve`'s.

    A summary is mostly Python work (LangChain building the request and parsing the
    answer, counting tokens) that would hold the GIL against the event loop answering
    POSTs; in a process of its own it costs the server nothing but a pickle. Workers
    are spawned, not forked, so none inherits the server's event loop or sockets. A
    failed LLM call is an answer like any other: the worker and its loaded model stay.
    """

    def __init__(self, llm_settings: LLMSettings, workers: int | None = None) -> None:
        from chatcli.config import resolve_provider

        self._settings = llm_settings
        self._budget = chunk_budget(llm_settings)
        self._strategy = strategy_for(llm_settings)
        # A local model is CPU-bound and loaded once per worker: one is enough.
        local = resolve_provider(llm_settings) == "local"
        count = workers or (1 if local else 2)
        # Last in, first out: a worker whose model is built is used before another starts.
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(count):
            self._idle.put(None)
        self._started: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        # One thread per worker waits for its answer, off the event loop.
        self._threads = ThreadPoolExecutor(max_workers=count, thread_name_prefix="summary-wait")

    def warm(self) -> None:
        """Start a worker and build its model now (see Summarizer.warm)."""
        try:
            self._ask(_Warm())
        except BaseException:
            self.close()
            raise

    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        request = _Summarize(context, messages, self._budget, self._strategy)
        return await loop.run_in_executor(self._threads, self._ask, request)

    def worker_pids(self) -> list[int]:
        """The live workers' process ids, for the operator's tools and the tests."""
        with self._lock:
            return [w.process.pid for w in self._started if w.process.pid is not None]

    def close(self) -> None:
        """Stop the workers now and release their processes and pipes.

        A summary in flight is not committed yet, so ending it loses nothing: the session
        stays over its window and is summarized at the next start.
        """
        with self._lock:
            self._closed = True
            workers, self._started = self._started, []
        for worker in workers:
            worker.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _ask(self, request: _Request) -> Any:
        worker = self._idle.get()
        try:
            if worker is None:
                worker = self._start()
            return worker.ask(request)
        except WorkerDied:
            self._forget(worker)
            worker = None
            raise
        finally:
            self._idle.put(worker)

    def _start(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise WorkerDied("the summarizer is closed")
            worker = _Worker(self._settings)
            self._started.append(worker)
            return worker

    def _forget(self, worker: _Worker | None) -> None:
        """Stop a dead worker, unless `close` took it to stop already."""
        with self._lock:
            owned = worker in self._started
            if owned:
                self._started.remove(worker)
        if owned and worker is not None:
            worker.stop()


def _serve_requests(settings: LLMSettings, conn: Connection, server_pid: int) -> None:
    """A worker's life: answer requests with its own model until the server goes away.

    The model is a local of this loop, built at the first request. The pipe's end at
    the server closes when the server ends, however it ends, and that ends the loop;
    a watcher thread also ends a worker busy in a long LLM call once its server is gone.
    """
    spawned.begin(server_pid)
    model = SummaryModel(settings)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if isinstance(request, _Warm):
                model.build()
                answer: tuple[bool, Any] = (True, None)
            else:
                result = summarize_chunks(
                    model, request.context, request.messages, request.budget, request.strategy
                )
                answer = (True, result)
        except Exception as exc:
            answer = (False, Failure.of(exc))
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return
