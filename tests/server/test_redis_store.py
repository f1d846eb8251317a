"""RedisStore on a real redis-server: Motörhead's exact key layout, lossless compaction, locks.

The layout is checked with a plain redis-py client, as Motörhead (or an operator) would see it.
Every test uses its own session ids and namespaces, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis

from chatcli.server.redis_store import RedisStore, RedisUnavailable
from chatcli.server.store import Message
from tests.support.procs import RedisServer, free_port

T = TypeVar("T")

HUMAN_A = Message("Human", "a")
AI_B = Message("AI", "b")


def with_store(url: str, scenario: Callable[[RedisStore], Awaitable[T]]) -> T:
    async def main() -> T:
        store = RedisStore(url)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def new_id(label: str = "s") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def url(redis_proc: RedisServer) -> str:
    return redis_proc.url


@pytest.fixture
def raw(redis_proc: RedisServer) -> redis.Redis:
    client = redis.Redis(port=redis_proc.port)
    yield client
    client.close()


def msgs(*texts: str) -> list[Message]:
    return [Message("Human", t) for t in texts]


# --- the key layout, as Motörhead writes and reads it -------------------------------------


def test_append_pushes_role_content_strings_newest_first(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, [Message("Human", "old")], None, None, 1.0)
        await store.append(sid, [HUMAN_A, AI_B], None, None, 2.0)

    with_store(url, scenario)
    assert raw.type(f"session:{sid}") == b"list"
    assert raw.lrange(f"session:{sid}", 0, -1) == [b"AI: b", b"Human: a", b"Human: old"]


def test_append_returns_the_list_length_after_the_push(url: str) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> list[int]:
        return [
            await store.append(sid, [HUMAN_A, AI_B], None, None, 1.0),
            await store.append(sid, [HUMAN_A], None, None, 2.0),
            await store.append(sid, [], None, None, 3.0),
        ]

    assert with_store(url, scenario) == [2, 3, 3]


def test_one_huge_post_keeps_array_order_in_a_single_list(url: str, raw: redis.Redis) -> None:
    sid = new_id()
    texts = [str(i) for i in range(10_000)]

    async def scenario(store: RedisStore) -> int:
        return await store.append(sid, msgs(*texts), None, None, 1.0)

    assert with_store(url, scenario) == 10_000
    stored = raw.lrange(f"session:{sid}", 0, -1)
    assert stored == [f"Human: {t}".encode() for t in reversed(texts)]


def test_context_is_a_plain_string_key_replaced_by_each_post_that_carries_one(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, [HUMAN_A], "first", None, 1.0)
        await store.append(sid, [AI_B], "second", None, 2.0)
        await store.append(sid, [AI_B], None, None, 3.0)

    with_store(url, scenario)
    assert raw.type(f"context:{sid}") == b"string"
    assert raw.get(f"context:{sid}") == b"second"


def test_sessions_index_is_a_sorted_set_scored_by_the_last_post_time(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, [HUMAN_A], None, None, 1_700_000_000.0)
        await store.append(sid, [AI_B], None, None, 1_700_000_050.0)

    with_store(url, scenario)
    assert raw.type("sessions") == b"zset"
    assert raw.zscore("sessions", sid) == 1_700_000_050.0


def test_a_namespace_has_its_own_index_and_stays_out_of_the_default_one(
    url: str, raw: redis.Redis
) -> None:
    sid, ns = new_id(), new_id("ns")

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, [HUMAN_A], None, ns, 5.0)

    with_store(url, scenario)
    assert raw.zscore(f"sessions:{ns}", sid) == 5.0
    assert raw.zscore("sessions", sid) is None
    assert raw.lrange(f"session:{sid}", 0, -1) == [b"Human: a"]


def test_tokens_are_an_integer_string_that_summaries_add_to(url: str, raw: redis.Redis) -> None:
    sid = new_id()
    raw.set(f"tokens:{sid}", "40")

    async def scenario(store: RedisStore) -> bool:
        await store.append(sid, msgs("1", "2", "3"), None, None, 1.0)
        pending = await store.pending(sid, keep=1)
        assert pending is not None
        return await store.commit_summary(pending, "summary", 2)

    assert with_store(url, scenario) is True
    assert raw.type(f"tokens:{sid}") == b"string"
    assert raw.get(f"tokens:{sid}") == b"42"


def test_reads_a_session_written_the_way_motorhead_writes_it(url: str, raw: redis.Redis) -> None:
    sid = new_id("mh")
    # Motörhead's POST: SET context, ZADD sessions <secs> id, LPUSH session:id "Role: content"...
    raw.set(f"context:{sid}", "Bob said hi")
    raw.zadd("sessions", {sid: int(time.time())})
    raw.lpush(f"session:{sid}", "Human: hi, I am Bob", "AI: Hello Bob!")
    raw.incrby(f"tokens:{sid}", 17)

    async def scenario(store: RedisStore) -> tuple:
        return (
            await store.get(sid, 10),
            await store.count(sid),
            sid in await store.list_sessions(None, 0, 100_000),
            sid in await store.sessions_over(1),
        )

    memory, count, listed, over = with_store(url, scenario)
    assert memory.messages == [Message("AI", "Hello Bob!"), Message("Human", "hi, I am Bob")]
    assert memory.context == "Bob said hi"
    assert memory.tokens == 17
    assert (count, listed, over) == (2, True, True)


def test_get_returns_the_newest_limit_messages_newest_first(url: str) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> list[Message]:
        await store.append(sid, msgs("1", "2", "3", "4", "5"), None, None, 1.0)
        return (await store.get(sid, 3)).messages

    assert with_store(url, scenario) == msgs("5", "4", "3")


def test_an_unknown_session_is_an_empty_memory(url: str) -> None:
    async def scenario(store: RedisStore) -> tuple:
        return await store.get(new_id("nobody"), 10), await store.count(new_id("nobody"))

    memory, count = with_store(url, scenario)
    assert (memory.messages, memory.context, memory.tokens, count) == ([], None, 0, 0)


def test_content_with_colon_space_newlines_and_unicode_round_trips(url: str) -> None:
    sid = new_id()
    tricky = [
        Message("Human", "key: value: more\nsecond line\r\n\tthird"),
        Message("AI", ": leading separator and trailing: "),
        Message("Human", "Motörhead 🤘 ünïcode"),
        Message("AI", ""),
    ]

    async def scenario(store: RedisStore) -> list[Message]:
        await store.append(sid, tricky, None, None, 1.0)
        return (await store.get(sid, 10)).messages

    assert with_store(url, scenario) == list(reversed(tricky))


def test_a_stored_string_without_a_separator_reads_as_content_with_no_role(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id()
    raw.lpush(f"session:{sid}", "no separator here", "Human:missing space", b"\xff\xfe bytes")
    raw.set(f"tokens:{sid}", "not a number")

    async def scenario(store: RedisStore):
        return await store.get(sid, 10)

    memory = with_store(url, scenario)
    assert [m.role for m in memory.messages] == ["", "", ""]
    assert memory.messages[1].content == "Human:missing space"
    assert memory.messages[2].content == "no separator here"
    assert memory.tokens == 0


def test_delete_removes_messages_summary_tokens_and_the_index_entry(
    url: str, raw: redis.Redis
) -> None:
    sid, ns = new_id(), new_id("ns")
    raw.set(f"tokens:{sid}", "3")

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, [HUMAN_A], "ctx", ns, 1.0)
        await store.delete(sid, ns)

    with_store(url, scenario)
    assert raw.exists(f"session:{sid}", f"context:{sid}", f"tokens:{sid}") == 0
    assert raw.zscore(f"sessions:{ns}", sid) is None


def test_list_sessions_is_oldest_post_first_with_offset_and_limit(url: str) -> None:
    ns = new_id("ns")
    ids = [new_id(str(i)) for i in range(5)]

    async def scenario(store: RedisStore) -> tuple:
        for i, sid in enumerate(ids):
            await store.append(sid, [HUMAN_A], None, ns, 100.0 + i)
        await store.append(ids[0], [AI_B], None, ns, 200.0)
        return (
            await store.list_sessions(ns, 0, 10),
            await store.list_sessions(ns, 1, 2),
            await store.list_sessions(ns, 10, 10),
        )

    everything, page, beyond = with_store(url, scenario)
    assert everything == [*ids[1:], ids[0]]
    assert page == ids[2:4]
    assert beyond == []


# --- compaction without loss (Motörhead defect 1) ------------------------------------------


def test_pending_hands_out_every_message_beyond_keep_oldest_first(url: str) -> None:
    sid = new_id()

    async def scenario(store: RedisStore):
        await store.append(sid, msgs("1", "2", "3", "4", "5"), "old summary", None, 1.0)
        return await store.pending(sid, keep=2), await store.pending(sid, keep=5)

    pending, nothing = with_store(url, scenario)
    assert pending.messages == msgs("1", "2", "3")
    assert pending.context == "old summary"
    assert pending.session_id == sid
    assert nothing is None


def test_commit_summary_removes_exactly_the_pending_messages_and_keeps_later_posts(
    url: str,
) -> None:
    sid = new_id()

    async def scenario(store: RedisStore):
        await store.append(sid, msgs("1", "2", "3", "4"), None, None, 1.0)
        pending = await store.pending(sid, keep=1)
        await store.append(sid, msgs("5", "6"), None, None, 2.0)
        done = await store.commit_summary(pending, "one to three", 9)
        return done, await store.get(sid, 100)

    done, memory = with_store(url, scenario)
    assert done is True
    assert memory.messages == msgs("6", "5", "4")
    assert (memory.context, memory.tokens) == ("one to three", 9)


def test_commit_summary_loses_nothing_while_many_writers_post_concurrently(
    url: str, raw: redis.Redis
) -> None:
    """Writers in other threads (each its own store, like other replicas) push the whole
    time; every message ends up exactly once: summarized, or still in the list."""
    sid = new_id("busy")
    writers, per_writer = 6, 150
    stop = threading.Event()

    def writer(w: int) -> None:
        async def push(store: RedisStore) -> None:
            for i in range(per_writer):
                await store.append(sid, [Message("Human", f"w{w}-{i}")], None, None, time.time())

        with_store(url, push)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]

    async def compact(store: RedisStore) -> tuple[list[Message], int]:
        summarized: list[Message] = []
        commits = 0
        while not stop.is_set() or await store.count(sid) > 3:
            pending = await store.pending(sid, keep=3)
            if pending is None:
                await asyncio.sleep(0.001)
                continue
            await asyncio.sleep(0.002)  # the LLM call, while writers keep pushing
            if await store.commit_summary(pending, "s", 1):
                summarized.extend(pending.messages)
                commits += 1
            if not any(t.is_alive() for t in threads):
                stop.set()
        return summarized, commits

    for t in threads:
        t.start()
    summarized, commits = with_store(url, compact)
    for t in threads:
        t.join()

    remaining = [m.decode() for m in raw.lrange(f"session:{sid}", 0, -1)]
    seen = [f"{m.role}: {m.content}" for m in summarized] + remaining
    expected = [f"Human: w{w}-{i}" for w in range(writers) for i in range(per_writer)]
    assert sorted(seen) == sorted(expected)
    assert commits > 1
    assert int(raw.get(f"tokens:{sid}")) == commits


def test_commit_summary_after_a_delete_returns_false_and_changes_nothing(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> bool:
        await store.append(sid, msgs("1", "2", "3"), None, None, 1.0)
        pending = await store.pending(sid, keep=1)
        await store.delete(sid, None)
        return await store.commit_summary(pending, "stale", 5)

    assert with_store(url, scenario) is False
    assert raw.exists(f"session:{sid}", f"context:{sid}", f"tokens:{sid}") == 0


def test_commit_summary_refuses_a_session_deleted_and_refilled_with_identical_text(
    url: str,
) -> None:
    sid = new_id()

    async def scenario(store: RedisStore):
        await store.append(sid, msgs("1", "2", "3"), None, None, 1.0)
        pending = await store.pending(sid, keep=1)
        await store.delete(sid, None)
        await store.append(sid, msgs("1", "2", "3"), None, None, 2.0)
        return await store.commit_summary(pending, "stale", 5), await store.get(sid, 10)

    done, memory = with_store(url, scenario)
    assert done is False
    assert (memory.messages, memory.context, memory.tokens) == (msgs("3", "2", "1"), None, 0)


def test_a_pending_batch_can_be_committed_only_once(url: str) -> None:
    sid = new_id()

    async def scenario(store: RedisStore):
        await store.append(sid, msgs("1", "2", "3", "4", "5"), None, None, 1.0)
        pending = await store.pending(sid, keep=3)
        first = await store.commit_summary(pending, "first", 1)
        second = await store.commit_summary(pending, "second", 1)
        return first, second, await store.get(sid, 10)

    first, second, memory = with_store(url, scenario)
    assert (first, second) == (True, False)
    assert (memory.messages, memory.context, memory.tokens) == (msgs("5", "4", "3"), "first", 1)


def test_commit_summary_refuses_when_the_tail_was_trimmed_by_someone_else(
    url: str, raw: redis.Redis
) -> None:
    """A Motörhead still running on the same Redis trims by index; then nothing is ours."""
    sid = new_id()

    async def scenario(store: RedisStore):
        await store.append(sid, msgs("1", "2", "3", "4"), None, None, 1.0)
        pending = await store.pending(sid, keep=2)
        raw.ltrim(f"session:{sid}", 0, 2)
        return await store.commit_summary(pending, "stale", 5), await store.get(sid, 10)

    done, memory = with_store(url, scenario)
    assert done is False
    assert (memory.messages, memory.context) == (msgs("4", "3", "2"), None)


def test_a_pending_of_every_message_leaves_no_empty_list_behind(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(store: RedisStore) -> bool:
        await store.append(sid, msgs("1", "2"), None, None, 1.0)
        return await store.commit_summary(await store.pending(sid, keep=0), "all", 1)

    assert with_store(url, scenario) is True
    assert raw.exists(f"session:{sid}") == 0
    assert raw.get(f"context:{sid}") == b"all"


def test_sessions_over_finds_every_list_longer_than_the_window_in_many_scan_batches(
    url: str, raw: redis.Redis
) -> None:
    label = new_id("many")
    long_ids = {f"{label}-long-{i}" for i in range(1200)}
    short_ids = {f"{label}-short-{i}" for i in range(1300)}
    pipe = raw.pipeline(transaction=False)
    for sid in long_ids:
        pipe.lpush(f"session:{sid}", *(f"Human: {i}" for i in range(5)))
    for sid in short_ids:
        pipe.lpush(f"session:{sid}", *(f"Human: {i}" for i in range(4)))
    pipe.set(f"session:{label}-not-a-list", "stray")
    pipe.execute()

    found = set(with_store(url, lambda store: store.sessions_over(4)))
    mine = {sid for sid in found if sid.startswith(label)}
    assert mine == long_ids


# --- locks across replicas (Motörhead defect 2) --------------------------------------------


def with_two_stores(url: str, scenario: Callable[[RedisStore, RedisStore], Awaitable[T]]) -> T:
    """Two stores with separate pools: two replicas of the server on one Redis."""

    async def main() -> T:
        first, second = RedisStore(url), RedisStore(url)
        try:
            return await scenario(first, second)
        finally:
            await first.close()
            await second.close()

    return asyncio.run(main())


def test_two_replicas_cannot_both_hold_a_session_lock(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(one: RedisStore, two: RedisStore):
        return await one.try_lock(sid, "one", 30), await two.try_lock(sid, "two", 30)

    assert with_two_stores(url, scenario) == (True, False)
    assert raw.get(f"chatcli:lock:{sid}") == b"one"
    assert 0 < raw.pttl(f"chatcli:lock:{sid}") <= 30_000


def test_an_expired_lock_can_be_taken_over(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(one: RedisStore, two: RedisStore):
        assert await one.try_lock(sid, "one", 0.05)
        while raw.exists(f"chatcli:lock:{sid}"):
            await asyncio.sleep(0.01)
        return await two.try_lock(sid, "two", 30), await one.refresh_lock(sid, "one", 30)

    assert with_two_stores(url, scenario) == (True, False)
    assert raw.get(f"chatcli:lock:{sid}") == b"two"


def test_unlock_never_releases_another_owners_lock(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(one: RedisStore, two: RedisStore) -> bool:
        await two.try_lock(sid, "two", 30)
        await one.unlock(sid, "one")
        return await one.try_lock(sid, "one", 30)

    assert with_two_stores(url, scenario) is False
    assert raw.get(f"chatcli:lock:{sid}") == b"two"


def test_unlock_releases_our_own_lock_for_the_next_replica(url: str) -> None:
    sid = new_id()

    async def scenario(one: RedisStore, two: RedisStore) -> bool:
        await one.try_lock(sid, "one", 30)
        await one.unlock(sid, "one")
        return await two.try_lock(sid, "two", 30)

    assert with_two_stores(url, scenario) is True


def test_refresh_extends_only_a_lock_we_hold(url: str, raw: redis.Redis) -> None:
    sid = new_id()

    async def scenario(one: RedisStore, two: RedisStore):
        await one.try_lock(sid, "one", 1)
        return await two.refresh_lock(sid, "two", 60), await one.refresh_lock(sid, "one", 60)

    assert with_two_stores(url, scenario) == (False, True)
    assert raw.pttl(f"chatcli:lock:{sid}") > 1_000


# --- the rest: key hygiene, connection, event loops ----------------------------------------


def test_chatcli_only_keys_live_under_the_chatcli_prefix(url: str, raw: redis.Redis) -> None:
    sid = new_id("hygiene")

    async def scenario(store: RedisStore) -> None:
        await store.append(sid, msgs("1", "2", "3"), "c", None, 1.0)
        await store.try_lock(sid, "me", 30)
        await store.commit_summary(await store.pending(sid, keep=1), "s", 1)
        await store.delete(sid, None)
        await store.append(sid, msgs("4"), None, None, 2.0)

    with_store(url, scenario)
    keys = {k.decode() for k in raw.scan_iter(match=f"*{sid}*")}
    assert keys == {
        f"session:{sid}",
        f"chatcli:lock:{sid}",
        f"chatcli:epoch:{sid}",
        f"chatcli:transcript:{sid}",
        f"chatcli:order:{sid}",
        f"chatcli:window:{sid}",
    }


def test_ping_of_an_unreachable_redis_names_the_url_with_the_password_masked() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"

    async def scenario(store: RedisStore) -> None:
        await store.ping()

    with pytest.raises(RedisUnavailable) as caught:
        with_store(url, scenario)
    message = str(caught.value)
    assert f"redis at redis://:***@127.0.0.1:{url.split(':')[-1]}" in message
    assert "hunter2" not in message


def test_ping_of_a_running_redis_succeeds(url: str) -> None:
    async def scenario(store: RedisStore) -> str:
        await store.ping()
        return store.name

    assert with_store(url, scenario) == "redis"


def test_one_store_keeps_working_across_successive_event_loops(url: str) -> None:
    sid = new_id()
    store = RedisStore(url)
    asyncio.run(store.append(sid, [HUMAN_A], None, None, 1.0))
    memory = asyncio.run(store.get(sid, 10))
    asyncio.run(store.close())
    assert memory.messages == [HUMAN_A]


def test_a_session_motorhead_wrote_is_adopted_into_the_transcript_on_first_read(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id("adopt")
    raw.lpush(f"session:{sid}", "Human: first", "AI: second")

    async def scenario(store: RedisStore) -> list[tuple[str, str, bool]]:
        page = await store.transcript(sid, 0, 10)
        return [(e.role, e.content, e.summarized) for e in page.entries]

    assert with_store(url, scenario) == [("Human", "first", False), ("AI", "second", False)]


def test_messages_motorhead_pushes_beside_chatcli_join_the_transcript_in_order(
    url: str, raw: redis.Redis
) -> None:
    sid = new_id("beside")

    async def scenario(store: RedisStore) -> list[str]:
        await store.append(sid, msgs("1"), None, None, 1.0)
        raw.lpush(f"session:{sid}", "Human: 2")
        await store.append(sid, msgs("3"), None, None, 2.0)
        return [e.content for e in (await store.transcript(sid, 0, 10)).entries]

    assert with_store(url, scenario) == ["1", "2", "3"]


def test_messages_motorhead_trimmed_leave_the_window_when_chatcli_posts_next(
    url: str, raw: redis.Redis
) -> None:
    """Motörhead's own compaction trims the oldest by index; the next POST's script sees a
    list shorter than its window set and marks those messages summarized."""
    sid = new_id("trimmed")

    async def scenario(store: RedisStore) -> list[tuple[str, bool]]:
        await store.append(sid, msgs("1", "2", "3"), None, None, 1.0)
        raw.ltrim(f"session:{sid}", 0, 1)
        await store.append(sid, msgs("4"), None, None, 2.0)
        return [(e.content, e.summarized) for e in (await store.transcript(sid, 0, 10)).entries]

    assert with_store(url, scenario) == [("1", True), ("2", False), ("3", False), ("4", False)]
