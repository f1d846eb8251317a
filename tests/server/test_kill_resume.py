"""A server killed (SIGKILL) in the middle of a summary loses nothing and, restarted on the
same store, brings the session back within its window without waiting for another POST.

Motörhead's defect 3: its compaction state lives only in the process, so a crash leaves
the session over its window until someone writes to it again.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import waiting
from tests.support.procs import RedisServer, ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.summaries import serve_env, summarized_lines

WINDOW = 4
SUMMARY = "Bob listed his favourite numbers."
WAIT = 60.0
OWN_DB = 13


@pytest.fixture(params=["sqlite", "redis"])
def store_args(
    request: pytest.FixtureRequest, tmp_path: Path, redis_proc: RedisServer
) -> Iterator[tuple[list[str], Callable[[str], int]]]:
    """The serve arguments for one store, and a way to count a session's stored messages."""
    if request.param == "redis":
        url = redis_proc.own_database(OWN_DB)
        raw = redis.Redis(port=redis_proc.port, db=OWN_DB)
        yield (
            ["--store", "redis", "--redis-url", url],
            (lambda session: raw.llen(f"session:{session}")),
        )
        raw.close()
        return
    db = tmp_path / "memory.db"

    def count(session: str) -> int:
        with sqlite3.connect(db) as conn:
            query = "SELECT count(*) FROM messages WHERE session_id = ?"
            return conn.execute(query, (session,)).fetchone()[0]

    yield ["--store", "sqlite", "--db", str(db)], count


wait_until = partial(waiting.wait_until, timeout=WAIT, poll=0.05)


def memory(server: ServeProcess, session: str) -> dict:
    response = httpx.get(f"{server.url}/sessions/{session}/memory", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_server_killed_mid_summary_loses_nothing_and_resumes_when_restarted(
    store_args: tuple[list[str], Callable[[str], int]], scripted_llm: ScriptedOpenAI
) -> None:
    args, count = store_args
    gate = threading.Event()

    def answer(prompt: str) -> str:
        gate.wait(WAIT)
        return SUMMARY

    scripted_llm.responder = answer
    env = serve_env(scripted_llm)
    session = f"k-{uuid.uuid4().hex[:12]}"
    posted = [f"number {i}" for i in range(2 * WINDOW)]

    first = start_serve([*args, "--window", str(WINDOW)], env=env)
    try:
        response = httpx.post(
            f"{first.url}/sessions/{session}/memory",
            json={"messages": [{"role": "Human", "content": text} for text in posted]},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        wait_until(lambda: len(scripted_llm.requests) == 1, "the summary to start")
    finally:
        first.kill()
    gate.set()  # the killed server's request is answered to no one
    assert count(session) == len(posted)

    second = start_serve([*args, "--window", str(WINDOW)], env=env)
    try:
        wait_until(lambda: count(session) <= WINDOW, "the session to get back within its window")
        result = memory(second, session)
    finally:
        second.stop()

    assert result["context"] == SUMMARY
    kept = [f"{m['role']}: {m['content']}" for m in reversed(result["messages"])]
    # The killed server's request is the first; its summary was never stored.
    resumed = scripted_llm.requests[1:]
    handed = [line for r in resumed for line in summarized_lines(r.prompt)]
    assert handed + kept == [f"Human: {text}" for text in posted]


def test_a_server_killed_mid_rebuild_keeps_the_old_summary_and_rebuilds_when_restarted(
    store_args: tuple[list[str], Callable[[str], int]], scripted_llm: ScriptedOpenAI
) -> None:
    args = store_args[0]
    gate = threading.Event()

    def answer(prompt: str) -> str:
        if "EDITED" in prompt:
            gate.wait(WAIT)
            return "Rebuilt."
        return SUMMARY

    scripted_llm.responder = answer
    env = serve_env(scripted_llm)
    session = f"k-{uuid.uuid4().hex[:12]}"
    posted = [f"number {i}" for i in range(WINDOW + 1)]

    first = start_serve([*args, "--window", str(WINDOW)], env=env)
    try:
        httpx.post(
            f"{first.url}/sessions/{session}/memory",
            json={"messages": [{"role": "Human", "content": text} for text in posted]},
            timeout=10,
        )
        wait_until(lambda: memory(first, session)["context"] == SUMMARY, "the first summary")
        page = httpx.get(f"{first.url}/sessions/{session}/transcript", timeout=10).json()
        oldest = page["messages"][0]["id"]
        response = httpx.patch(
            f"{first.url}/sessions/{session}/messages/{oldest}",
            json={"content": "EDITED"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        wait_until(lambda: any("EDITED" in r.prompt for r in scripted_llm.requests), "the rebuild")
    finally:
        first.kill()
    gate.set()

    second = start_serve([*args, "--window", str(WINDOW)], env=env)
    try:
        assert memory(second, session)["context"] in (SUMMARY, "Rebuilt.")
        wait_until(lambda: memory(second, session)["context"] == "Rebuilt.", "the rebuild")
        page = httpx.get(f"{second.url}/sessions/{session}/transcript", timeout=10).json()
    finally:
        second.stop()
    assert [m["content"] for m in page["messages"]] == ["EDITED", *posted[1:]]
