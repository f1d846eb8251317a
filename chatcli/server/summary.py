"""Motörhead's progressive summary: the prompt, the token-budget chunking, and the LLM call.

The prompt text and the budget (p50k_base: 4096 in all, 512 kept for the summary, 230 of
buffer) are Motörhead's, so a session moved over from Motörhead keeps getting summaries in
the same voice. Everything but `LLMSummarizer.summarize` is a plain function, tested
without a model or a network.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from chatcli.server.store import Message
from chatcli.server.tokens import count_tokens, truncate_tokens

if TYPE_CHECKING:
    from chatcli.config import LLMSettings

MAX_TOKENS = 4096
SUMMARY_MAX_TOKENS = 512
BUFFER_TOKENS = 230
MAX_MESSAGE_TOKENS = MAX_TOKENS - SUMMARY_MAX_TOKENS - BUFFER_TOKENS
NONE_ANSWER = "NONE"
SYSTEM_MESSAGE = "You are a helpful AI assistant."

# Motörhead's text (src/reducer.rs), byte for byte: it sits in a Rust raw string there, so
# the \" around the nicknames reach the model as a backslash and a quote.
PROMPT_TEMPLATE = r"""
Progressively summarize the lines of conversation provided, adding onto the previous summary returning a new summary. If the lines are meaningless just return NONE

EXAMPLE
Current summary:
The human asks who is the lead singer of Motorhead. The AI responds Lemmy Kilmister.
New lines of conversation:
Human: What are the other members of Motorhead?
AI: The original members included Lemmy Kilmister (vocals, bass), Larry Wallis (guitar), and Lucas Fox (drums), with notable members throughout the years including \"Fast\" Eddie Clarke (guitar), Phil \"Philthy Animal\" Taylor (drums), and Mikkey Dee (drums).
New summary:
The human asks who is the lead singer and other members of Motorhead. The AI responds Lemmy Kilmister is the lead singer and other original members include Larry Wallis, and Lucas Fox, with notable past members including \"Fast\" Eddie Clarke, Phil \"Philthy Animal\" Taylor, and Mikkey Dee.
END OF EXAMPLE

Current summary:
{summary}
New lines of conversation:
{lines}
New summary:
"""  # noqa: E501


class Summarizer(Protocol):
    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        """The new summary of `context` followed by `messages` (oldest first), and the
        LLM tokens spent on it."""
        ...


def message_line(message: Message) -> str:
    """Motörhead's stored form of a message, which is also how its prompt shows it."""
    return f"{message.role}: {message.content}"


def build_prompt(context: str | None, lines: Sequence[str]) -> str:
    return PROMPT_TEMPLATE.format(summary=context or "", lines="\n".join(lines))


def chunk_lines(lines: Sequence[str], budget: int = MAX_MESSAGE_TOKENS) -> list[list[str]]:
    """Consecutive groups of lines, each within `budget` tokens, in order.

    Same greedy packing as Motörhead, except that a line alone over the budget becomes a
    chunk of its own, truncated, where Motörhead would send an empty chunk and stall.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in lines:
        size = count_tokens(line)
        if size > budget:
            # Only a single message bigger than a whole chunk gets here; cutting it lets the
            # summary cover its start instead of the compaction failing on it forever.
            line = truncate_tokens(line, budget)
            size = count_tokens(line)
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += size
    if current:
        chunks.append(current)
    return chunks


EXAMPLE_SUMMARY = "The human asks who is the lead singer and other members of Motorhead."
"""The worked example's answer: a small model that returns it has copied, not summarized."""
SCAFFOLDING = (
    "END OF",
    "EXAMPLE",
    "Current summary:",
    "New lines of conversation:",
    "New summary:",
)


def clean_answer(answer: str) -> str:
    """The summary part of an answer, without what a small model runs on into.

    Small models (the bundled Gemma 270M is a base model) continue the prompt's layout
    ("END OF SUMMARY", a new "Current summary:") or loop on one line; a real summary
    contains neither, so cutting there costs a capable model nothing.
    """
    kept: list[str] = []
    for line in answer.strip().splitlines():
        text = line.strip()
        if text.startswith(SCAFFOLDING) or (text and text in kept):
            break
        kept.append(text)
    return "\n".join(kept).strip()


def transcript_summary(previous: str | None, lines: Sequence[str]) -> str:
    """The previous summary and the lines themselves, cut from the oldest end to the size of
    a summary: what is kept when the model answers with the worked example instead."""
    parts = [p for p in [previous, *lines] if p]
    while len(parts) > 1 and count_tokens("\n".join(parts)) > SUMMARY_MAX_TOKENS:
        parts.pop(0)
    return truncate_tokens("\n".join(parts), SUMMARY_MAX_TOKENS)


def next_summary(previous: str | None, lines: Sequence[str], answer: str) -> str | None:
    """The summary after one chunk, given the model's answer to its prompt.

    NONE (or nothing) means the lines were meaningless: keep what we had, as Motörhead
    does. A copy of the worked example would put Motörhead trivia into the user's chat
    prompt; the transcript is kept instead, so the lines are not lost.
    """
    text = clean_answer(answer)
    if not text or text == NONE_ANSWER:
        return previous
    if EXAMPLE_SUMMARY in text and not any(EXAMPLE_SUMMARY in line for line in lines):
        return transcript_summary(previous, lines)
    return text


LLMCall = Callable[[str], tuple[str, int | None]]
"""Prompt in, (answer, tokens the LLM reports or None) out; blocking."""


def summarize_chunks(
    call: LLMCall,
    context: str | None,
    messages: Sequence[Message],
    budget: int = MAX_MESSAGE_TOKENS,
) -> tuple[str, int]:
    """Run the chunks through `call`, each chunk's summary becoming the next one's context.

    Returns the final summary ('' when every chunk was meaningless and there was no summary
    before) and the tokens used: as reported, or counted over prompt and answer.
    """
    summary = context
    total = 0
    for chunk in chunk_lines([message_line(m) for m in messages], budget):
        prompt = build_prompt(summary, chunk)
        answer, reported = call(prompt)
        total += reported if reported is not None else count_tokens(prompt) + count_tokens(answer)
        summary = next_summary(summary, chunk, answer)
    return summary or "", total


def chunk_budget(llm_settings: LLMSettings) -> int:
    """Motörhead's budget for the lines of one prompt, or, for a local model, what its
    context leaves after the answer, the current summary and the prompt's own text.

    Motörhead sized its budget for a 4096-token OpenAI model and left the current summary
    out; a local model's context (2048 by default) must hold all of it, or llama.cpp
    refuses the prompt and the compaction could never succeed.
    """
    from chatcli.config import resolve_provider

    if resolve_provider(llm_settings) != "local":
        return MAX_MESSAGE_TOKENS
    reserved = 2 * SUMMARY_MAX_TOKENS + count_tokens(build_prompt(None, []))
    return max(64, min(MAX_MESSAGE_TOKENS, llm_settings.context_size - reserved))


class SummaryModel:
    """The summarizer's LLM, built on first use and then reused; calling it is one
    completion. Building it is what imports LangChain (or loads a local model), so a
    server that never needs a summary never pays for that. Both summarizers hold one:
    LLMSummarizer in the server's process, ProcessSummarizer in each worker.
    """

    def __init__(self, llm_settings: LLMSettings) -> None:
        limit = min(llm_settings.max_tokens, SUMMARY_MAX_TOKENS)
        self._settings = replace(llm_settings, max_tokens=limit)
        self._llm: Any = None
        self._lock = threading.Lock()

    def build(self) -> Any:
        with self._lock:
            if self._llm is None:
                from chatcli.llm import make_llm

                self._llm = make_llm(self._settings, streaming=False)
            return self._llm

    def __call__(self, prompt: str) -> tuple[str, int | None]:
        # No LOCAL_CALL_LOCK here: chatcli.local_llm.LocalLLM takes it around every call
        # itself, and the lock is not re-entrant.
        return _generate(self.build(), prompt)


class LLMSummarizer:
    """Summaries from the configured LLM (openai or local), on threads of the caller's
    process: the embedded server's, sharing the chat's loaded model. Calls run on a
    thread pool of their own: a slow LLM must not take the threads the request path uses.
    """

    def __init__(self, llm_settings: LLMSettings) -> None:
        self._model = SummaryModel(llm_settings)
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="summarizer")
        self._budget = chunk_budget(llm_settings)

    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, summarize_chunks, self._model, context, messages, self._budget
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def warm(self) -> None:
        """Build the model now. A long-running server does this before it listens: the
        first build imports LangChain for seconds, holding the GIL against every request,
        and a model that cannot be built is better said at start than at the first summary.
        """
        self._model.build()


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


class ProcessSummarizer:
    """Summaries from the configured LLM, made in worker processes: `chatcli serve`'s.

    A summary is mostly Python work (LangChain building the request and parsing the
    answer, counting tokens) that would hold the GIL against the event loop answering
    POSTs; in a process of its own it costs the server nothing but a pickle. Workers
    are spawned, not forked, so none inherits the server's event loop or sockets. The
    embedded server keeps LLMSummarizer's threads, to share the chat's loaded model.
    """

    def __init__(self, llm_settings: LLMSettings, workers: int | None = None) -> None:
        from chatcli.config import resolve_provider

        self._settings = llm_settings
        self._budget = chunk_budget(llm_settings)
        # A local model is CPU-bound and loaded once per worker: one is enough.
        local = resolve_provider(llm_settings) == "local"
        self._workers = workers or (1 if local else 2)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                import multiprocessing

                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                    initargs=(self._settings, os.getpid()),
                )
            return self._pool

    def warm(self) -> None:
        """Start a worker and build its model now (see LLMSummarizer.warm)."""
        try:
            self._executor().submit(_worker_warm).result()
        except BaseException:
            self.close()
            raise

    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(
                pool, _worker_summarize, context, messages, self._budget
            )
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the compactor retries the summary,
            # and the retry gets a fresh pool.
            with self._pool_lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        """Stop the workers now and release the pool's queues and semaphores.

        A summary in flight is not committed yet, so ending it loses nothing: the session
        stays over its window and is summarized at the next start. Waiting for the pool
        lets its semaphores be released here; a process that then ends without
        finalization (see chatcli.cli.main) leaves none for the resource tracker to report.
        """
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


_worker_model: SummaryModel | None = None


def _worker_init(settings: LLMSettings, server_pid: int) -> None:
    global _worker_model
    _worker_model = SummaryModel(settings)
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    """A pool's workers each hold their task queue's writing end, so a server that was
    killed never closes it for them: without this they would outlive it forever."""
    while os.getppid() == server_pid:
        time.sleep(0.5)
    os._exit(0)


def _worker_warm() -> None:
    assert _worker_model is not None
    _worker_model.build()


def _worker_summarize(context: str | None, messages: list[Message], budget: int) -> tuple[str, int]:
    assert _worker_model is not None
    return summarize_chunks(_worker_model, context, messages, budget)
