"""The Store protocol (chatcli/server/store.py) at the Python level, the same tests for
SQLite and Redis: what the API and the compactor may rely on whichever store they hold."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatcli.server.store import Message, Store

M = Message


@pytest.fixture(params=["sqlite", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes stores over one backing store, as separate processes or replicas would."""
    if request.param == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        path = tmp_path / "memory.db"
        yield lambda: SQLiteStore(path)
    else:
        from chatcli.server.redis_store import RedisStore

        redis_proc = request.getfixturevalue("redis_proc")
        redis_proc.flush()
        yield lambda: RedisStore(redis_proc.url)


def run(factory: Callable[[], Store], scenario: Callable[[Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = factory()
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


def test_append_returns_the_session_size(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[int]:
        s = sid()
        return [
            await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0),
            await store.append(s, [M("Human", "c")], None, None, 2.0),
            await store.append(s, [], None, None, 3.0),
        ]

    assert run(store_factory, scenario) == [2, 3, 3]


def test_get_is_newest_first_and_limited(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[str]:
        s = sid()
        await store.append(s, [M("Human", str(i)) for i in range(5)], None, None, 1.0)
        return contents((await store.get(s, 3)).messages)

    assert run(store_factory, scenario) == ["4", "3", "2"]


def test_an_unknown_session_is_an_empty_memory(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        memory = await store.get(sid(), 10)
        return memory.messages, memory.context, memory.tokens

    assert run(store_factory, scenario) == ([], None, 0)


def test_context_is_replaced_only_when_given(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[str | None]:
        s = sid()
        seen = []
        await store.append(s, [M("Human", "a")], "one", None, 1.0)
        seen.append((await store.get(s, 1)).context)
        await store.append(s, [M("Human", "b")], None, None, 2.0)
        seen.append((await store.get(s, 1)).context)
        await store.append(s, [], "two", None, 3.0)
        seen.append((await store.get(s, 1)).context)
        return seen

    assert run(store_factory, scenario) == ["one", "one", "two"]


def test_sessions_are_listed_by_last_write_then_id(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[str]:
        await store.append("b", [M("Human", "x")], None, "ns", 10.0)
        await store.append("c", [M("Human", "x")], None, "ns", 5.0)
        await store.append("a", [M("Human", "x")], None, "ns", 10.0)
        await store.append("c", [M("Human", "y")], None, "ns", 20.0)
        return await store.list_sessions("ns", 0, 10)

    assert run(store_factory, scenario) == ["a", "b", "c"]


def test_list_sessions_pages_by_offset_and_limit(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[list[str]]:
        for i in range(5):
            await store.append(f"s{i}", [], None, "pages", float(i))
        return [await store.list_sessions("pages", offset, 2) for offset in (0, 2, 4, 6)]

    assert run(store_factory, scenario) == [["s0", "s1"], ["s2", "s3"], ["s4"], []]


def test_namespaces_have_separate_indexes(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[list[str]]:
        await store.append("x", [M("Human", "a")], None, None, 1.0)
        await store.append("y", [M("Human", "a")], None, "team", 1.0)
        return [
            await store.list_sessions(None, 0, 10),
            await store.list_sessions("team", 0, 10),
            await store.list_sessions("other", 0, 10),
        ]

    assert run(store_factory, scenario) == [["x"], ["y"], []]


def test_delete_removes_everything_and_the_namespace_entry(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        await store.append("gone", [M("Human", "a")], "summary", "team", 1.0)
        await store.append("gone", [M("Human", "b")], None, None, 1.0)
        await store.delete("gone", "team")
        memory = await store.get("gone", 10)
        return (
            memory.messages,
            memory.context,
            await store.count("gone"),
            await store.list_sessions("team", 0, 10),
            await store.list_sessions(None, 0, 10),
        )

    assert run(store_factory, scenario) == ([], None, 0, [], ["gone"])


def test_count_is_the_number_of_messages_held(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[int]:
        s = sid()
        before = await store.count(s)
        await store.append(s, [M("Human", str(i)) for i in range(7)], None, None, 1.0)
        return [before, await store.count(s)]

    assert run(store_factory, scenario) == [0, 7]


def test_pending_hands_out_the_oldest_beyond_keep_in_order(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", str(i)) for i in range(6)], "old summary", None, 1.0)
        pending = await store.pending(s, 2)
        assert pending is not None
        return pending.session_id == s, contents(pending.messages), pending.context

    assert run(store_factory, scenario) == (True, ["0", "1", "2", "3"], "old summary")


def test_pending_is_none_within_keep(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0)
        return await store.pending(s, 2), await store.pending(sid(), 0)

    assert run(store_factory, scenario) == (None, None)


def test_commit_summary_removes_exactly_the_pending_messages(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(6)], None, None, 1.0)
        pending = await store.pending(s, 2)
        assert pending is not None
        await store.append(s, [M("Human", "new1"), M("AI", "new2")], None, None, 2.0)
        done = await store.commit_summary(pending, "the summary", 17)
        memory = await store.get(s, 100)
        return done, contents(memory.messages), memory.context, memory.tokens, await store.count(s)

    assert run(store_factory, scenario) == (
        True,
        ["new2", "new1", "m5", "m4"],
        "the summary",
        17,
        4,
    )


def test_tokens_add_up_over_commits(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> int:
        s = sid()
        for round_ in range(2):
            await store.append(s, [M("Human", f"{round_}-{i}") for i in range(4)], None, None, 1.0)
            pending = await store.pending(s, 1)
            assert pending is not None
            assert await store.commit_summary(pending, f"summary {round_}", 10)
        return (await store.get(s, 1)).tokens

    assert run(store_factory, scenario) == 20


def test_commit_summary_after_delete_changes_nothing(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(4)], None, None, 1.0)
        pending = await store.pending(s, 1)
        assert pending is not None
        await store.delete(s, None)
        done = await store.commit_summary(pending, "stale", 5)
        memory = await store.get(s, 10)
        return done, memory.messages, memory.context, memory.tokens

    assert run(store_factory, scenario) == (False, [], None, 0)


def test_commit_summary_after_delete_and_identical_refill_changes_nothing(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        same = [M("Human", f"m{i}") for i in range(4)]
        await store.append(s, same, None, None, 1.0)
        pending = await store.pending(s, 1)
        assert pending is not None
        await store.delete(s, None)
        await store.append(s, same, None, None, 2.0)
        done = await store.commit_summary(pending, "stale", 5)
        memory = await store.get(s, 10)
        return done, contents(memory.messages), memory.context

    assert run(store_factory, scenario) == (False, ["m3", "m2", "m1", "m0"], None)


def test_a_second_commit_of_the_same_pending_changes_nothing(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(6)], None, None, 1.0)
        pending = await store.pending(s, 2)
        assert pending is not None
        first = await store.commit_summary(pending, "one", 1)
        second = await store.commit_summary(pending, "two", 1)
        memory = await store.get(s, 10)
        return first, second, contents(memory.messages), memory.context, memory.tokens

    assert run(store_factory, scenario) == (True, False, ["m5", "m4"], "one", 1)


def test_the_lock_excludes_other_owners_across_store_objects(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[bool]:
        other = store_factory()
        try:
            return [
                await store.try_lock("locked", "me", 30),
                await other.try_lock("locked", "you", 30),
                await other.refresh_lock("locked", "you", 30),
                await store.refresh_lock("locked", "me", 30),
            ]
        finally:
            await other.close()

    assert run(store_factory, scenario) == [True, False, False, True]


def test_unlock_frees_the_lock_only_for_its_owner(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[bool]:
        await store.try_lock("held", "me", 30)
        await store.unlock("held", "you")
        still_held = not await store.try_lock("held", "you", 30)
        await store.unlock("held", "me")
        return [still_held, await store.try_lock("held", "you", 30)]

    assert run(store_factory, scenario) == [True, True]


def test_an_expired_lock_can_be_taken_and_not_refreshed(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[bool]:
        await store.try_lock("brief", "me", 0.05)
        deadline = time.monotonic() + 5
        while not await store.try_lock("brief", "you", 30):
            assert time.monotonic() < deadline, "the lock never expired"
            await asyncio.sleep(0.05)
        return [await store.refresh_lock("brief", "me", 30)]

    assert run(store_factory, scenario) == [False]


def test_sessions_over_lists_those_beyond_the_window(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[str]:
        await store.append("small", [M("Human", "x")] * 3, None, None, 1.0)
        await store.append("edge", [M("Human", "x")] * 4, None, None, 1.0)
        await store.append("big", [M("Human", "x")] * 5, None, None, 1.0)
        return sorted(await store.sessions_over(4))

    assert run(store_factory, scenario) == ["big"]


def test_ping_succeeds_on_a_live_store(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> str:
        await store.ping()
        return store.name

    assert run(store_factory, scenario) in ("sqlite", "redis")
