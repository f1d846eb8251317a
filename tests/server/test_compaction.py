"""Incremental summarization through a live server: in the background, lossless, retried.

Each test runs the real app (uvicorn on a free loopback port) over SQLite and over a real
redis-server, with the scripted OpenAI-compatible server as the summarizer's LLM. Where a
test needs the LLM to be mid-answer, its responder waits on a gate the test opens, so
every "while the summary runs" is a fact of ordering, never a guess about timing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import uvicorn

from chatcli.config import LLMSettings, ServerSettings
from chatcli.server.app import create_app
from chatcli.server.compactor import Compactor
from chatcli.server.sqlite_store import SQLiteStore
from chatcli.server.store import Message, Store
from chatcli.server.summary import build_prompt
from chatcli.server.summary_workers import LLMSummarizer, ProcessSummarizer
from tests.support import waiting
from tests.support.procs import RedisServer, free_port
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.summaries import summarized_lines

WINDOW = 4
SUMMARY = "The human counted messages."
WAIT = 30.0
OWN_DB = 12


@dataclass
class CompactingServer:
    """A server run in this process over a compactor the test tunes and watches (to know when
    background work is over), and a client; unlike conftest's `Live`, which is a server started
    once and seen only through HTTP and its store."""

    url: str
    compactor: Compactor
    client: httpx.Client

    def post(self, session: str, *contents: str) -> httpx.Response:
        messages = [{"role": "Human", "content": c} for c in contents]
        response = self.client.post(f"/sessions/{session}/memory", json={"messages": messages})
        assert response.status_code == 200, response.text
        return response

    def memory(self, session: str) -> dict:
        response = self.client.get(f"/sessions/{session}/memory")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_idle(self) -> None:
        wait_until(lambda: not self.compactor.busy(), "the compactor to finish")


wait_until = partial(waiting.wait_until, timeout=WAIT, poll=0.02)


def open_store(kind: str, tmp_path: Path, redis_url: str) -> Store:
    if kind == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        return SQLiteStore(tmp_path / "memory.db")
    from chatcli.server.redis_store import RedisStore

    return RedisStore(redis_url)


@contextlib.contextmanager
def live_server(store: Store, compactor: Compactor) -> Iterator[CompactingServer]:
    app = create_app(store, ServerSettings(window=compactor.window), compactor)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to start")
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=WAIT) as client:
        try:
            yield CompactingServer(url, compactor, client)
        finally:
            server.should_exit = True
            thread.join(WAIT)


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def compaction_redis_url(redis_proc: RedisServer) -> str:
    """A Redis database emptied for each test, since a compactor resumes at start every session
    over the window that it finds: other tests' leftovers would take the gated LLM first."""
    return redis_proc.own_database(OWN_DB)


@pytest.fixture
def make_live(
    store_kind: str, tmp_path: Path, compaction_redis_url: str, scripted_llm: ScriptedOpenAI
) -> Iterator[Callable[..., CompactingServer]]:
    """Start a live server over the test's store kind; arguments tune its compactor."""
    stack = contextlib.ExitStack()

    def make(
        api: str = "chat",
        stream: bool = False,
        lock_ttl: float = 30.0,
        max_backoff: float = 1.0,
        first_backoff: float = 0.5,
    ) -> CompactingServer:
        llm = LLMSettings(
            provider="openai", base_url=scripted_llm.base_url, api_key="test", api=api,
            stream=stream,
        )  # fmt: skip
        store = open_store(store_kind, tmp_path, compaction_redis_url)
        compactor = Compactor(
            store, WINDOW, LLMSummarizer(llm), lock_ttl=lock_ttl, first_backoff=first_backoff,
            max_backoff=max_backoff,
        )  # fmt: skip
        return stack.enter_context(live_server(store, compactor))

    with stack:
        yield make


@pytest.fixture
def gate(scripted_llm: ScriptedOpenAI) -> Iterator[threading.Event]:
    """The scripted LLM answers SUMMARY, but only once the test opens the gate."""
    opened = threading.Event()

    def answer(prompt: str) -> str:
        opened.wait(WAIT)
        return SUMMARY

    scripted_llm.responder = answer
    yield opened
    opened.set()


def new_session() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def post_over_the_window(live: CompactingServer, session: str) -> list[str]:
    """One message more than the window, which starts a compaction; what was posted."""
    posted = [f"m{i}" for i in range(WINDOW + 1)]
    live.post(session, *posted)
    return posted


def contents(memory: dict) -> list[str]:
    return [m["content"] for m in memory["messages"]]


# --- the behaviour ---------------------------------------------------------------------


def test_a_post_returns_before_the_summary_is_answered(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI, gate: threading.Event
) -> None:
    live = make_live()
    session = new_session()
    post_over_the_window(live, session)
    # The POST is answered; only now does the test let the LLM answer.
    wait_until(lambda: len(scripted_llm.requests) == 1, "the summary request")
    assert live.memory(session)["context"] is None
    gate.set()
    live.wait_idle()
    assert live.memory(session)["context"] == SUMMARY


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("stream", [False, True])
def test_after_compaction_the_summary_is_the_context_and_the_newest_half_remains(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI, api: str, stream: bool
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live(api=api, stream=stream)
    session = new_session()
    post_over_the_window(live, session)
    live.wait_idle()
    memory = live.memory(session)
    assert memory["context"] == SUMMARY
    assert contents(memory) == [f"m{i}" for i in range(WINDOW, WINDOW - WINDOW // 2, -1)]
    assert memory["tokens"] > 0


def test_the_llm_receives_motorheads_prompt_with_the_messages_beyond_the_newest_half(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live()
    session = new_session()
    live.post(session, "hi im bob", "whats my name?", "whats for dinner?")
    live.client.post(
        f"/sessions/{session}/memory",
        json={"messages": [{"role": "AI", "content": "pasta"}, {"role": "Human", "content": "ok"}]},
    )
    live.wait_idle()
    (request,) = scripted_llm.requests
    assert request.prompt == build_prompt(
        None, ["Human: hi im bob", "Human: whats my name?", "Human: whats for dinner?"]
    )


def test_tokens_add_up_over_successive_summaries(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live()
    session = new_session()
    post_over_the_window(live, session)
    live.wait_idle()
    first = live.memory(session)["tokens"]
    live.post(session, *[f"n{i}" for i in range(WINDOW)])
    live.wait_idle()
    assert len(scripted_llm.requests) == 2
    assert live.memory(session)["tokens"] > first > 0


def test_the_previous_summary_is_carried_into_the_next_prompt(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live()
    session = new_session()
    post_over_the_window(live, session)
    live.wait_idle()
    live.post(session, *[f"n{i}" for i in range(WINDOW)])
    live.wait_idle()
    assert f"Current summary:\n{SUMMARY}\nNew lines" in scripted_llm.requests[1].prompt


def test_exactly_the_summarized_messages_are_removed_while_posts_arrive(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI, gate: threading.Event
) -> None:
    live = make_live()
    session = new_session()
    first = [f"m{i}" for i in range(WINDOW + 1)]
    live.post(session, *first)
    wait_until(lambda: len(scripted_llm.requests) == 1, "the first summary request")
    later = [f"m{i}" for i in range(WINDOW + 1, 3 * WINDOW)]
    for text in later:
        live.post(session, text)
    gate.set()
    live.wait_idle()

    handed = [line for r in scripted_llm.requests for line in summarized_lines(r.prompt)]
    assert summarized_lines(scripted_llm.requests[0].prompt) == [
        f"Human: {t}" for t in first[: -(WINDOW // 2)]
    ]
    remaining = [f"Human: {t}" for t in reversed(contents(live.memory(session)))]
    assert handed + remaining == [f"Human: {t}" for t in first + later]
    assert len(remaining) <= WINDOW


def test_a_failed_summary_loses_nothing_and_is_retried_until_it_succeeds(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.fail_next = 10_000
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live(max_backoff=0.2)
    session = new_session()
    posted = post_over_the_window(live, session)
    # The OpenAI client retries once by itself; a third request is the compactor's retry.
    wait_until(lambda: len(scripted_llm.requests) >= 3, "a retried summary")
    memory = live.memory(session)
    assert memory["context"] is None
    assert contents(memory) == list(reversed(posted))[:WINDOW]
    scripted_llm.fail_next = 0
    live.wait_idle()
    memory = live.memory(session)
    assert memory["context"] == SUMMARY
    assert contents(memory) == list(reversed(posted))[: WINDOW // 2]


def test_a_summary_that_goes_through_wakes_a_session_backing_off(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    failing = 10_000
    scripted_llm.fail_next = failing
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live(first_backoff=3600.0, max_backoff=3600.0)
    waiting = new_session()
    post_over_the_window(live, waiting)
    # The OpenAI client retries once by itself; then the job backs off for an hour.
    wait_until(lambda: scripted_llm.fail_next <= failing - 2, "the first summary failing")
    scripted_llm.fail_next = 0
    post_over_the_window(live, new_session())
    wait_until(lambda: live.memory(waiting)["context"] == SUMMARY, "the waiting session's summary")


def test_a_delete_during_a_summary_does_not_bring_the_session_back(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI, gate: threading.Event
) -> None:
    live = make_live()
    session = new_session()
    post_over_the_window(live, session)
    wait_until(lambda: len(scripted_llm.requests) == 1, "the summary request")
    assert live.client.delete(f"/sessions/{session}/memory").status_code == 200
    gate.set()
    live.wait_idle()
    assert live.memory(session) == {"messages": [], "context": None, "tokens": 0}
    assert session not in live.client.get("/sessions", params={"size": 1000}).json()


def test_a_session_refilled_during_a_summary_keeps_its_new_messages(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI, gate: threading.Event
) -> None:
    live = make_live()
    session = new_session()
    live.post(session, *[f"old{i}" for i in range(WINDOW + 1)])
    wait_until(lambda: len(scripted_llm.requests) == 1, "the summary request")
    live.client.delete(f"/sessions/{session}/memory")
    live.post(session, *[f"old{i}" for i in range(WINDOW)])
    gate.set()
    live.wait_idle()
    memory = live.memory(session)
    assert memory["context"] is None
    assert contents(memory) == [f"old{i}" for i in reversed(range(WINDOW))]


def test_a_session_over_its_window_is_summarized_at_start_without_a_post(
    store_kind: str, tmp_path: Path, compaction_redis_url: str, scripted_llm: ScriptedOpenAI
) -> None:
    import asyncio

    scripted_llm.responder = lambda prompt: SUMMARY
    session = new_session()
    seeded = open_store(store_kind, tmp_path, compaction_redis_url)

    async def seed() -> None:
        messages = [Message("Human", f"m{i}") for i in range(2 * WINDOW)]
        await seeded.append(session, messages, None, None, time.time())
        await seeded.close()

    asyncio.run(seed())
    llm = LLMSettings(provider="openai", base_url=scripted_llm.base_url, api_key="test")
    store = open_store(store_kind, tmp_path, compaction_redis_url)
    with live_server(store, Compactor(store, WINDOW, LLMSummarizer(llm))) as live:
        wait_until(lambda: live.memory(session)["context"] == SUMMARY, "the resumed summary")
        live.wait_idle()
        assert len(live.memory(session)["messages"]) <= WINDOW


def test_a_lock_left_by_a_dead_replica_is_taken_over_once_it_expires(
    make_live: Callable[..., CompactingServer],
    scripted_llm: ScriptedOpenAI,
    store_kind: str,
    tmp_path: Path,
    compaction_redis_url: str,
) -> None:
    import asyncio

    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live(lock_ttl=0.5)
    session = new_session()
    other_replica = open_store(store_kind, tmp_path, compaction_redis_url)

    async def take_lock_and_die() -> bool:
        taken = await other_replica.try_lock(session, "a-replica-that-died", 0.5)
        await other_replica.close()
        return taken

    assert asyncio.run(take_lock_and_die())
    post_over_the_window(live, session)
    live.wait_idle()
    assert live.memory(session)["context"] == SUMMARY


def test_the_lock_is_kept_alive_while_a_slow_summary_runs(
    make_live: Callable[..., CompactingServer],
    scripted_llm: ScriptedOpenAI,
    gate: threading.Event,
    store_kind: str,
    tmp_path: Path,
    compaction_redis_url: str,
) -> None:
    import asyncio

    ttl = 1.0
    live = make_live(lock_ttl=ttl)
    session = new_session()
    post_over_the_window(live, session)
    wait_until(lambda: len(scripted_llm.requests) == 1, "the summary request")
    other_replica = open_store(store_kind, tmp_path, compaction_redis_url)

    async def try_for(seconds: float) -> list[bool]:
        # Well past the lock's ttl: only refreshing can keep it from this other replica.
        attempts = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            attempts.append(await other_replica.try_lock(session, "another-replica", ttl))
            await asyncio.sleep(ttl / 5)
        await other_replica.close()
        return attempts

    attempts = asyncio.run(try_for(2.5 * ttl))
    gate.set()
    live.wait_idle()
    assert attempts and not any(attempts)
    assert live.memory(session)["context"] == SUMMARY


def test_drain_lets_a_summary_already_at_the_llm_land_before_stopping(
    store_kind: str,
    tmp_path: Path,
    compaction_redis_url: str,
    scripted_llm: ScriptedOpenAI,
    gate: threading.Event,
) -> None:
    import asyncio

    session = new_session()
    llm = LLMSettings(provider="openai", base_url=scripted_llm.base_url, api_key="test")

    async def scenario() -> str | None:
        store = open_store(store_kind, tmp_path, compaction_redis_url)
        compactor = Compactor(store, WINDOW, LLMSummarizer(llm))
        await compactor.start()
        messages = [Message("Human", f"m{i}") for i in range(WINDOW + 1)]
        compactor.after_append(session, await store.append(session, messages, None, None, 0.0))
        while not scripted_llm.requests:
            await asyncio.sleep(0.02)
        draining = asyncio.create_task(compactor.drain(WAIT))
        await asyncio.sleep(0)
        gate.set()  # the LLM answers only once the exit has begun
        await draining
        context = (await store.get(session, WINDOW)).context
        await store.close()
        return context

    assert asyncio.run(scenario()) == SUMMARY


def test_a_worker_processs_failed_summary_is_logged_by_its_cause_and_the_same_worker_retries(
    tmp_path: Path, scripted_llm: ScriptedOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    # Two scripted 500s: the OpenAI client's own retry, then the compactor's first try.
    scripted_llm.fail_next = 2
    scripted_llm.responder = lambda prompt: SUMMARY
    llm = LLMSettings(provider="openai", base_url=scripted_llm.base_url, api="completions")
    summarizer = ProcessSummarizer(llm, workers=1)
    summarizer.warm()
    (pid,) = summarizer.worker_pids()
    store = SQLiteStore(tmp_path / "memory.db")
    compactor = Compactor(store, WINDOW, summarizer, max_backoff=0.2)
    # The handler goes on the compactor's logger itself: the embedded server's log file
    # stops its parent logger from propagating to the root, where caplog listens.
    logger = logging.getLogger("chatcli.server.compactor")
    logger.addHandler(caplog.handler)
    try:
        with live_server(store, compactor) as live:
            session = new_session()
            post_over_the_window(live, session)
            live.wait_idle()
            assert live.memory(session)["context"] == SUMMARY
            assert summarizer.worker_pids() == [pid]
    finally:
        logger.removeHandler(caplog.handler)
    # One record, seen once more through the root logger when propagation is on (this test
    # run alone): count records, not the handlers that saw them.
    records = {id(r): r for r in caplog.records}.values()
    (failure,) = [r.getMessage() for r in records if "failed" in r.getMessage()]
    assert "InternalServerError: Error code: 500 - scripted failure" in failure
    assert "\n" not in failure


# --- summary rebuilds after an edit or delete of a summarized message ---------------------


def summarized_ids(live: CompactingServer, session: str) -> list[str]:
    page = live.client.get(f"/sessions/{session}/transcript").json()
    return [m["id"] for m in page["messages"] if m["summarized"]]


def test_editing_a_summarized_message_rebuilds_the_summary_from_the_transcript(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: "rebuilt" if "EDITED" in prompt else SUMMARY
    live = make_live()
    session = new_session()
    posted = post_over_the_window(live, session)
    live.wait_idle()
    first = summarized_ids(live, session)[0]
    response = live.client.patch(
        f"/sessions/{session}/messages/{first}", json={"content": "EDITED"}
    )
    assert response.status_code == 200, response.text
    live.wait_idle()
    assert live.memory(session)["context"] == "rebuilt"
    summarized = len(posted) - WINDOW // 2
    assert summarized_lines(scripted_llm.requests[-1].prompt) == [
        "Human: EDITED",
        *(f"Human: {t}" for t in posted[1:summarized]),
    ]
    assert f"Current summary:\n{SUMMARY}" not in scripted_llm.requests[-1].prompt


def test_deleting_a_summarized_message_rebuilds_the_summary_without_it(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live()
    session = new_session()
    posted = post_over_the_window(live, session)
    live.wait_idle()
    first = summarized_ids(live, session)[0]
    assert live.client.delete(f"/sessions/{session}/messages/{first}").status_code == 200
    live.wait_idle()
    summarized = len(posted) - WINDOW // 2
    assert summarized_lines(scripted_llm.requests[-1].prompt) == [
        f"Human: {t}" for t in posted[1:summarized]
    ]


def test_the_old_summary_stays_while_a_rebuild_fails_and_is_retried(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: "rebuilt" if "EDITED" in prompt else SUMMARY
    live = make_live(max_backoff=0.2)
    session = new_session()
    post_over_the_window(live, session)
    live.wait_idle()
    before = len(scripted_llm.requests)
    scripted_llm.fail_next = 10_000
    first = summarized_ids(live, session)[0]
    live.client.patch(f"/sessions/{session}/messages/{first}", json={"content": "EDITED"})
    wait_until(lambda: len(scripted_llm.requests) >= before + 3, "a retried rebuild")
    assert live.memory(session)["context"] == SUMMARY
    scripted_llm.fail_next = 0
    live.wait_idle()
    assert live.memory(session)["context"] == "rebuilt"


def test_deleting_every_summarized_message_leaves_no_summary(
    make_live: Callable[..., CompactingServer], scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    live = make_live()
    session = new_session()
    post_over_the_window(live, session)
    live.wait_idle()
    for message_id in summarized_ids(live, session):
        live.client.delete(f"/sessions/{session}/messages/{message_id}")
    live.wait_idle()
    assert live.memory(session)["context"] is None
