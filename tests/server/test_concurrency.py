"""Many concurrent writers through a small window: every message ends up exactly once.

Each message posted is, at the end, either still among the session's messages or among
the lines the summarizer was handed (recorded by the scripted LLM), never both, never
neither, and in the order each writer posted it. That is Motörhead's defect 1 (indices
shift under a slow LTRIM) and 2 (an in-process lock) turned into a test, against real
`chatcli serve` processes: one on SQLite, one on Redis, two on one SQLite file and two
on one Redis.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.procs import RedisServer, ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.summaries import handed_to_summarizer, serve_env

WINDOW = 4
WRITERS = 6
POSTS_PER_WRITER = 16
SESSIONS = 3
WAIT = 60.0
LINE = re.compile(r"Human: (?P<session>c-\w+)/w(?P<writer>\d+)/(?P<n>\d+)$")


@dataclass
class Setup:
    servers: list[ServeProcess]
    count: Callable[[str], int]
    """Messages the backing store holds for a session, read straight from it."""


@pytest.fixture(
    params=["sqlite", "redis", "two-on-sqlite", "two-on-redis"],
)
def setup(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_proc: RedisServer,
    scripted_llm: ScriptedOpenAI,
) -> Iterator[Setup]:
    kind: str = request.param
    replicas = 2 if kind.startswith("two") else 1
    env = serve_env(scripted_llm)
    if kind.endswith("redis"):
        # A serve resumes every session over its window at start: another module's
        # leftovers on the shared Redis would take the summarizer from this test's.
        redis_proc.flush()
        args = ["--store", "redis", "--redis-url", redis_proc.url]
        raw = redis.Redis(port=redis_proc.port)

        def count(session: str) -> int:
            return raw.llen(f"session:{session}")
    else:
        db = tmp_path / "memory.db"
        args = ["--store", "sqlite", "--db", str(db)]

        def count(session: str) -> int:
            with sqlite3.connect(db) as conn:
                query = "SELECT count(*) FROM messages WHERE session_id = ?"
                return conn.execute(query, (session,)).fetchone()[0]

    servers: list[ServeProcess] = []
    try:
        for _ in range(replicas):
            servers.append(start_serve([*args, "--window", str(WINDOW)], env=env))
        yield Setup(servers, count)
    finally:
        for server in servers:
            server.stop()


def remaining(server: ServeProcess, session: str) -> list[str]:
    """The session's messages, oldest first (it is within its window, so GET shows all)."""
    response = httpx.get(f"{server.url}/sessions/{session}/memory", timeout=10)
    assert response.status_code == 200, response.text
    return [f"{m['role']}: {m['content']}" for m in reversed(response.json()["messages"])]


def test_every_message_from_concurrent_writers_ends_up_exactly_once(
    setup: Setup, scripted_llm: ScriptedOpenAI
) -> None:
    lock = threading.Lock()

    def answer(prompt: str) -> str:
        time.sleep(0.02)  # long enough for POSTs to land while a summary is out
        return "They counted."

    scripted_llm.responder = answer
    stamp = str(time.monotonic_ns())[-8:]
    sessions = [f"c-{stamp}x{i}" for i in range(SESSIONS)]
    posted: list[str] = []

    def writer(w: int) -> None:
        with httpx.Client(timeout=WAIT) as client:
            for n in range(POSTS_PER_WRITER):
                session = sessions[(w + n) % SESSIONS]
                server = setup.servers[(w + n) % len(setup.servers)]
                content = f"{session}/w{w}/{n}"
                response = client.post(
                    f"{server.url}/sessions/{session}/memory",
                    json={"messages": [{"role": "Human", "content": content}]},
                )
                assert response.status_code == 200, response.text
                with lock:
                    posted.append(f"Human: {content}")

    with ThreadPoolExecutor(WRITERS) as pool:
        for future in [pool.submit(writer, w) for w in range(WRITERS)]:
            future.result()

    deadline = time.monotonic() + WAIT
    while any(setup.count(s) > WINDOW for s in sessions):
        assert time.monotonic() < deadline, "sessions did not get back within their window"
        time.sleep(0.05)

    handed = handed_to_summarizer(scripted_llm)
    kept = {s: remaining(setup.servers[0], s) for s in sessions}
    assert handed, "the window was never exceeded, so nothing was tested"
    assert Counter(handed + [line for s in sessions for line in kept[s]]) == Counter(posted)
    for session in sessions:
        # Summaries take the oldest first, so what was handed out, then what is kept, is
        # the session's whole history in order: each writer's messages must read ascending.
        history = [m for line in handed + kept[session] if (m := LINE.match(line))]
        for w in range(WRITERS):
            order = [
                int(m["n"]) for m in history if m["session"] == session and m["writer"] == str(w)
            ]
            assert order == sorted(order), f"writer {w}'s messages were reordered in {session}"
