"""Recall on Redis beyond the common contract: Motörhead's long-term hashes written exactly as
Motörhead writes them, Motörhead's own hashes served and re-embedded, and removal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import pytest
import redis as sync_redis

from chatcli.server.redis_layout import MotorheadLayout
from chatcli.server.redis_recall import WALK_BUDGET
from chatcli.server.redis_store import RedisStore
from chatcli.server.store import Message
from tests.support.procs import RedisServer

T = TypeVar("T")
MODEL = "test-model-4"
NOW = 1.7e9
DB = 21


@pytest.fixture
def url(redis_proc: RedisServer) -> str:
    """Database DB, emptied per test: the indexer's first walk scans every session."""
    return redis_proc.own_database(DB)


@pytest.fixture
def raw(redis_proc: RedisServer, url: str) -> sync_redis.Redis:
    return sync_redis.Redis(port=redis_proc.port, db=DB)


def run(url: str, work: Callable[[RedisStore], Awaitable[T]]) -> T:
    async def body() -> T:
        store = RedisStore(url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(body())


def vec(*values: float, dim: int = 4) -> np.ndarray:
    v = np.array(values + (0.0,) * (dim - len(values)), dtype=np.float32)
    return v / np.linalg.norm(v)


def sid() -> str:
    return f"rr-{uuid.uuid4().hex[:10]}"


def motorhead_hash(raw: sync_redis.Redis, session: str, role: str, content: str) -> str:
    """What Motörhead's index_messages writes: a nanoid key, an ada vector, no chatcli tag."""
    motorhead_id = uuid.uuid4().hex[:21]
    raw.hset(
        f"motorhead:{motorhead_id}",
        mapping={
            "session": session,
            "vector": vec(1, dim=1536).astype("<f4").tobytes(),
            "content": content,
            "role": role,
        },
    )
    return motorhead_id


async def index_all(store: RedisStore, vectors: dict[str, np.ndarray]) -> int:
    items = await store.unindexed(MODEL, 1000)
    pairs = [(i, vectors[i.text.split(": ", 1)[1]].astype("<f4").tobytes()) for i in items]
    return await store.add_vectors(MODEL, pairs)


def test_a_stored_vector_is_a_motorhead_hash_with_float32_little_endian_bytes(
    url: str, raw: sync_redis.Redis
) -> None:
    s = sid()
    v = vec(1, 2, 3)

    async def work(store: RedisStore) -> str:
        await store.append(s, [Message("Human", "hello there")], None, None, NOW)
        await index_all(store, {"hello there": v})
        return (await store.transcript(s, 0, 10)).entries[0].id

    message_id = run(url, work)
    held = raw.hgetall(MotorheadLayout().recall_vector(s, message_id))
    assert held[b"session"] == s.encode()
    assert held[b"role"] == b"Human"
    assert held[b"content"] == b"hello there"
    assert held[b"vector"] == v.astype("<f4").tobytes()
    assert held[b"chatcli_model"] == MODEL.encode()
    assert MotorheadLayout().recall_vector(s, message_id).startswith("motorhead:")


def test_a_motorhead_hash_is_searchable_by_keyword_before_it_is_re_embedded(
    url: str, raw: sync_redis.Redis
) -> None:
    s = sid()
    motorhead_hash(raw, s, "Human", "my sister lives in Lisbon")

    async def work(store: RedisStore) -> tuple[list[str], int]:
        await store.unindexed(MODEL, 10)  # the first walk adopts Motörhead's hashes
        found = await store.keyword_search(s, "where does my sister live", 10)
        return [f.entry.content for f in found], await store.backlog(MODEL)

    assert run(url, work) == (["my sister lives in Lisbon"], 1)


def test_a_motorhead_hash_is_re_embedded_in_place_with_the_model_beside(
    url: str, raw: sync_redis.Redis
) -> None:
    s = sid()
    motorhead_id = motorhead_hash(raw, s, "AI", "the cat is called Tom")
    v = vec(0, 1)

    async def work(store: RedisStore) -> tuple[list[str], int, list[str]]:
        items = await store.unindexed(MODEL, 10)
        await store.add_vectors(MODEL, [(i, v.astype("<f4").tobytes()) for i in items])
        near = [f.entry.content for f in await store.nearest(s, MODEL, v, 10)]
        return [i.text for i in items], await store.backlog(MODEL), near

    texts, left, near = run(url, work)
    assert texts == ["AI: the cat is called Tom"]
    assert (left, near) == (0, ["the cat is called Tom"])
    held = raw.hgetall(f"motorhead:{motorhead_id}")
    assert held[b"vector"] == v.astype("<f4").tobytes()
    assert held[b"chatcli_model"] == MODEL.encode()
    assert (held[b"session"], held[b"role"]) == (s.encode(), b"AI")


def test_a_motorhead_vector_of_another_dimension_is_never_searched(
    url: str, raw: sync_redis.Redis
) -> None:
    s = sid()
    motorhead_hash(raw, s, "Human", "ada vectors")

    async def work(store: RedisStore) -> list[object]:
        await store.unindexed(MODEL, 10)
        return await store.nearest(s, MODEL, vec(1, dim=1536), 10)

    assert run(url, work) == []


def test_a_motorhead_hash_of_a_message_in_the_transcript_is_not_served_twice(
    url: str, raw: sync_redis.Redis
) -> None:
    s = sid()

    async def work(store: RedisStore) -> list[str]:
        await store.append(s, [Message("Human", "blue whales sing")], None, None, NOW)
        motorhead_hash(raw, s, "Human", "blue whales sing")
        await store.unindexed(MODEL, 10)
        return [f.entry.content for f in await store.keyword_search(s, "whales", 10)]

    assert run(url, work) == ["blue whales sing"]


def test_keyword_search_keeps_motorhead_hashes_to_their_session(
    url: str, raw: sync_redis.Redis
) -> None:
    mine, theirs = sid(), sid()
    motorhead_hash(raw, theirs, "Human", "penguins waddle")

    async def work(store: RedisStore) -> tuple[list[str], list[str]]:
        await store.append(mine, [Message("Human", "penguins swim")], None, None, NOW)
        await store.unindexed(MODEL, 10)
        own = [f.entry.content for f in await store.keyword_search(mine, "penguins", 10)]
        every = [f.session_id for f in await store.keyword_search(None, "penguins", 10)]
        return own, sorted(every)

    own, every = run(url, work)
    assert own == ["penguins swim"]
    assert every == sorted([mine, theirs])


def test_clearing_a_session_removes_its_hashes_chatclis_and_motorheads(
    url: str, raw: sync_redis.Redis
) -> None:
    s, other = sid(), sid()
    motorhead_hash(raw, s, "Human", "old motorhead memory")
    kept = motorhead_hash(raw, other, "Human", "another session's memory")

    async def work(store: RedisStore) -> list[object]:
        await store.append(s, [Message("Human", "fresh")], None, None, NOW)
        await index_all(
            store,
            {"fresh": vec(1), "old motorhead memory": vec(0, 1)}
            | {"another session's memory": vec(0, 0, 1)},
        )
        await store.delete(s, None)
        return await store.keyword_search(s, "old fresh memory", 10)

    assert run(url, work) == []
    sessions = {raw.hget(k, "session") for k in raw.scan_iter(match="motorhead:*")}
    assert sessions == {other.encode()}
    assert raw.exists(f"motorhead:{kept}")


def test_forgetting_a_message_removes_its_hash(url: str, raw: sync_redis.Redis) -> None:
    s = sid()

    async def work(store: RedisStore) -> str:
        await store.append(s, [Message("Human", "forget me")], None, None, NOW)
        await index_all(store, {"forget me": vec(1)})
        entry = (await store.transcript(s, 0, 10)).entries[0]
        await store.delete_message(s, entry.id, "token")
        return entry.id

    message_id = run(url, work)
    assert not raw.exists(MotorheadLayout().recall_vector(s, message_id))


def test_a_hit_the_transcript_no_longer_holds_is_dropped_and_requeued(
    url: str, raw: sync_redis.Redis
) -> None:
    """As if a server died between an edit's transcript write and its recall cleanup."""
    s = sid()

    async def work(store: RedisStore) -> tuple[list[str], list[str]]:
        await store.append(s, [Message("Human", "apples")], None, None, NOW)
        await index_all(store, {"apples": vec(1)})
        await store.nearest(s, MODEL, vec(1), 10)  # loads the session into memory
        entry = (await store.transcript(s, 0, 10)).entries[0]
        stamp = raw.hget(f"chatcli:transcript:{s}", entry.id).partition(b" ")[0]
        raw.hset(f"chatcli:transcript:{s}", entry.id, stamp + b" Human: pears")
        near = [f.entry.content for f in await store.nearest(s, MODEL, vec(1), 10)]
        return near, [i.text for i in await store.unindexed(MODEL, 10)]

    assert run(url, work) == ([], ["Human: pears"])


def test_a_search_sees_vectors_another_replica_stored(url: str) -> None:
    s = sid()

    async def work(reader: RedisStore) -> list[str]:
        await reader.append(s, [Message("Human", "a"), Message("Human", "b")], None, None, NOW)
        assert await reader.nearest(s, MODEL, vec(1), 10) == []
        writer = RedisStore(url)
        try:
            await index_all(writer, {"a": vec(1), "b": vec(0, 1)})
        finally:
            await writer.close()
        return [f.entry.content for f in await reader.nearest(s, MODEL, vec(1), 1)]

    assert run(url, work) == ["a"]


def test_a_motorhead_window_list_is_adopted_and_indexed(url: str, raw: sync_redis.Redis) -> None:
    s = sid()
    raw.lpush(f"session:{s}", "Human: older line", "AI: newer line")

    async def work(store: RedisStore) -> list[str]:
        return [i.text for i in await store.unindexed(MODEL, 10) if i.session_id == s]

    assert run(url, work) == ["Human: older line", "AI: newer line"]


def test_a_session_longer_than_one_walk_is_indexed_to_its_end(url: str) -> None:
    s = sid()
    total = WALK_BUDGET + 500

    async def work(store: RedisStore) -> tuple[int, int]:
        for start in range(0, total, 100):
            batch = [Message("Human", f"line {start + i}") for i in range(100)]
            await store.append(s, batch, None, None, NOW)
        stored = 0
        while items := await store.unindexed(MODEL, 1000):
            stored += await store.add_vectors(MODEL, [(i, vec(1).tobytes()) for i in items])
        return stored, await store.backlog(MODEL)

    assert run(url, work) == (total, 0)


def test_many_sessions_are_indexed_to_the_last_in_batches(url: str) -> None:
    """More sessions than one SSCAN page: a call that starts mid-set goes on from its start."""
    sessions = [sid() for _ in range(300)]

    async def work(store: RedisStore) -> tuple[int, int]:
        for s in sessions:
            await store.append(s, [Message("Human", "x"), Message("AI", "y")], None, None, NOW)
        stored = 0
        while items := await store.unindexed(MODEL, 64):
            stored += await store.add_vectors(MODEL, [(i, vec(1).tobytes()) for i in items])
        return stored, await store.backlog(MODEL)

    assert run(url, work) == (600, 0)
