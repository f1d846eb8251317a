"""Many concurrent writers through a small window: every message ends up exactly once.

Each message posted is, at the end, either still among the session's messages or among
the lines the summarizer was handed (recorded by the scripted LLM), never both, never
neither, and in the order each writer posted it. That is Motörhead's defect 1 (indices
shift under a slow LTRIM) and 2 (an in-process lock) turned into a test, against real
`chatcli serve` processes: one on SQLite, one on Redis, two on one SQLite file, two
on one Redis and two on one Redis Cluster.
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
    stale: Callable[[], int]
    """Sessions whose summary still waits for a rebuild, read straight from the store."""


@pytest.fixture(
    params=["sqlite", "redis", "two-on-sqlite", "two-on-redis", "two-on-redis-cluster"],
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
    if kind.endswith("redis-cluster"):
        from redis.cluster import RedisCluster

        from chatcli.server.redis_layout import ClusterLayout

        cluster = request.getfixturevalue("redis_cluster_proc")
        cluster.flush()
        args = ["--store", "redis", "--redis-url", cluster.url]
        client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
        layout = ClusterLayout()

        def count(session: str) -> int:
            return client.llen(layout.messages(session))

        def stale() -> int:
            return sum(client.scard(key) for key in layout.rebuild_sets())
    elif kind.endswith("redis"):
        # A serve resumes every session over its window at start: another module's
        # leftovers on the shared Redis would take the summarizer from this test's.
        redis_proc.flush()
        args = ["--store", "redis", "--redis-url", redis_proc.url]
        raw = redis.Redis(port=redis_proc.port)

        def count(session: str) -> int:
            return raw.llen(f"session:{session}")

        def stale() -> int:
            return raw.scard("chatcli:rebuild")
    else:
        db = tmp_path / "memory.db"
        args = ["--store", "sqlite", "--db", str(db)]

        def count(session: str) -> int:
            with sqlite3.connect(db) as conn:
                query = "SELECT count(*) FROM messages WHERE session_id = ?"
                return conn.execute(query, (session,)).fetchone()[0]

        def stale() -> int:
            with sqlite3.connect(db) as conn:
                query = "SELECT count(*) FROM sessions WHERE rebuild IS NOT NULL"
                return conn.execute(query).fetchone()[0]

    servers: list[ServeProcess] = []
    try:
        for _ in range(replicas):
            servers.append(start_serve([*args, "--window", str(WINDOW)], env=env))
        yield Setup(servers, count, stale)
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


def transcript(server: ServeProcess, session: str) -> list[dict]:
    """The session's whole transcript, page by page, oldest first."""
    messages: list[dict] = []
    after: str | None = None
    while True:
        params = {"limit": 7, **({"after": after} if after else {})}
        response = httpx.get(f"{server.url}/sessions/{session}/transcript", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        messages += page["messages"]
        after = page["next"]
        if after is None:
            return messages


def test_edits_deletes_and_a_fork_amid_concurrent_writers_keep_every_message_once(
    setup: Setup, scripted_llm: ScriptedOpenAI
) -> None:
    def answer(prompt: str) -> str:
        time.sleep(0.02)
        return "They counted."

    scripted_llm.responder = answer
    stamp = str(time.monotonic_ns())[-8:]
    sessions = [f"c-{stamp}x{i}" for i in range(SESSIONS)]
    fork = f"c-{stamp}fork"
    posted: list[str] = []
    deleted: set[str] = set()
    edited: dict[str, str] = {}
    lock = threading.Lock()
    done = threading.Event()

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
                    posted.append(content)

    def changer() -> None:
        """Deletes every fifth message it sees and edits every seventh, window or not."""
        seen = 0
        with httpx.Client(timeout=WAIT) as client:
            while not done.is_set() or seen == 0:
                for i, session in enumerate(sessions):
                    server = setup.servers[i % len(setup.servers)]
                    for message in transcript(server, session):
                        content = message["content"]
                        if content in deleted or content in edited or "EDIT" in content:
                            continue
                        seen += 1
                        url = f"{server.url}/sessions/{session}/messages/{message['id']}"
                        if seen % 5 == 0:
                            assert client.delete(url).status_code == 200
                            deleted.add(content)
                        elif seen % 7 == 0:
                            new = f"{content} EDIT"
                            response = client.patch(url, json={"content": new})
                            assert response.status_code == 200, response.text
                            edited[content] = new

    def forker() -> None:
        time.sleep(0.05)
        response = httpx.post(
            f"{setup.servers[-1].url}/sessions/{sessions[0]}/fork", json={"to": fork}, timeout=WAIT
        )
        assert response.status_code == 200, response.text

    with ThreadPoolExecutor(WRITERS + 2) as pool:
        others = [pool.submit(changer), pool.submit(forker)]
        for future in [pool.submit(writer, w) for w in range(WRITERS)]:
            future.result()
        done.set()
        for future in others:
            future.result()

    deadline = time.monotonic() + WAIT
    while any(setup.count(s) > WINDOW for s in [*sessions, fork]) or setup.stale():
        assert time.monotonic() < deadline, "compaction or a rebuild never finished"
        time.sleep(0.05)

    expected = Counter(edited.get(c, c) for c in posted if c not in deleted)
    kept = [m["content"] for s in sessions for m in transcript(setup.servers[0], s)]
    assert Counter(kept) == expected
    for session in sessions:
        assert len(remaining(setup.servers[0], session)) <= WINDOW
        history = [
            m
            for c in (m["content"] for m in transcript(setup.servers[0], session))
            if (m := LINE.match(f"Human: {c.removesuffix(' EDIT')}"))
        ]
        for w in range(WRITERS):
            order = [int(m["n"]) for m in history if m["writer"] == str(w)]
            assert order == sorted(order), f"writer {w}'s messages were reordered in {session}"
    forked = [m["content"] for m in transcript(setup.servers[0], fork)]
    assert len(forked) == len(set(forked))
