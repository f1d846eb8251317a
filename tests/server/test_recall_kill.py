"""A server killed (SIGKILL) between its POSTs and their indexing leaves nothing unindexed for
good: restarted on the same file, it indexes exactly what was left, each message once."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from chatcli.server.redis_layout import MotorheadLayout
from chatcli.server.redis_store import RedisStore
from chatcli.server.sqlite_store import SQLiteStore
from chatcli.server.store import Message, Store
from tests.server.conftest import TEST_EMBEDDING
from tests.support.procs import RedisServer, start_serve

WAIT = 120.0
BLANK = ["PORT", "REDIS_URL", "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_LONG_TERM_MEMORY"]


def serve_env() -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="chatcli-recall-"))
    return {
        **dict.fromkeys(BLANK, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
        "CHATCLI_SERVER_EMBEDDING": TEST_EMBEDDING,
        "NO_COLOR": "1",
    }


def unindexed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM recall WHERE vector IS NULL").fetchone()[0]


def indexed_total(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("chatcli_indexed_messages_total "):
            return float(line.split()[1])
    raise AssertionError("no chatcli_indexed_messages_total in /metrics")


def killed_then_restarted(
    args: list[str], tmp_path: Path, store: Store, left: Callable[[], int]
) -> None:
    """Forty messages through a `serve` that is then SIGKILLed before it can index them all,
    ten more written to the store while no server runs, then a restart: waits until `left`
    (the messages without a vector) is 0, and checks the restarted server indexed exactly
    what was left."""
    env = serve_env()
    first = start_serve(args, env=env, log_dir=tmp_path)
    try:
        for post in range(4):
            body = {
                "messages": [{"role": "Human", "content": f"fact w{post}x{i}"} for i in range(10)]
            }
            assert httpx.post(f"{first.url}/sessions/s/memory", json=body).status_code == 200
    finally:
        first.kill()

    async def written_while_no_indexer_ran() -> None:
        late = [Message("AI", f"fact w9x{i}") for i in range(10)]
        await store.append("s", late, None, None, time.time())
        await store.close()

    asyncio.run(written_while_no_indexer_ran())
    before = left()
    assert before >= 10

    second = start_serve(args, env=env, log_dir=tmp_path)
    try:
        deadline = time.monotonic() + WAIT
        while left():
            assert time.monotonic() < deadline, "the restarted server did not index the rest"
            time.sleep(0.1)
        assert indexed_total(second.url) == before
    finally:
        second.stop()


def test_every_message_is_indexed_exactly_once_across_a_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    args = ["--db", str(db), "--no-summarize"]
    killed_then_restarted(args, tmp_path, SQLiteStore(db), lambda: unindexed(db))

    with sqlite3.connect(db) as conn:
        per_message = conn.execute(
            "SELECT t.id, count(r.doc), count(r.vector) FROM transcript t "
            "LEFT JOIN recall r ON r.session_id = t.session_id AND r.message_id = t.id "
            "GROUP BY t.id"
        ).fetchall()
        keyword = [
            conn.execute(
                "SELECT count(*) FROM recall_fts WHERE recall_fts MATCH ?", (f'"{token}"',)
            ).fetchone()[0]
            for token in [f"w{p}x{i}" for p in (0, 1, 2, 3, 9) for i in range(10)]
        ]
    assert len(per_message) == 50
    assert all((rows, vectors) == (1, 1) for _, rows, vectors in per_message)
    assert keyword == [1] * 50


def redis_unindexed(client: redis.Redis, session_id: str) -> int:
    total = client.zcard(f"chatcli:order:{session_id}")
    done = [
        f for f in client.hkeys(MotorheadLayout().recall_docs(session_id)) if f.startswith(b"m:")
    ]
    return total - len(done)


def test_every_message_is_indexed_exactly_once_across_a_sigkill_on_redis(
    tmp_path: Path, redis_proc: RedisServer
) -> None:
    url = redis_proc.own_database(24)
    client = redis.Redis.from_url(url)
    args = ["--store", "redis", "--redis-url", url, "--no-summarize"]
    killed_then_restarted(args, tmp_path, RedisStore(url), lambda: redis_unindexed(client, "s"))

    hashes = [client.hgetall(key) for key in client.scan_iter(match="motorhead:*")]
    ids = [h[b"chatcli_id"] for h in hashes]
    assert client.zcard("chatcli:order:s") == 50
    assert len(ids) == len(set(ids)) == 50
