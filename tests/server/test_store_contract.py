"""The Store protocol (chatcli/server/store.py) at the Python level, the same tests for
SQLite and Redis: what the API and the compactor may rely on whichever store they hold."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatcli.server.store import Entry, ForkStatus, Message, NewEntry, Store

M = Message


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes stores over one backing store, as separate processes or replicas would."""
    if request.param == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        path = tmp_path / "memory.db"
        yield lambda: SQLiteStore(path)
    elif request.param == "redis-cluster":
        from chatcli.server.redis_store import RedisStore

        cluster = request.getfixturevalue("redis_cluster_proc")
        cluster.flush()
        yield lambda: RedisStore(cluster.url)
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


# --- the transcript underneath the window ---------------------------------------------------

ID = re.compile(r"[0-9a-hjkmnp-tv-z]{16}")


def texts(entries: list[Entry]) -> list[str]:
    return [e.content for e in entries]


async def everything(store: Store, s: str) -> list[Entry]:
    page = await store.transcript(s, 0, 1000)
    return page.entries


async def compact(store: Store, s: str, keep: int, summary: str = "summary") -> None:
    pending = await store.pending(s, keep)
    assert pending is not None
    assert await store.commit_summary(pending, summary, 1)


def test_every_posted_message_is_in_the_transcript_oldest_first(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[tuple[str, str]]:
        s = sid()
        await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0)
        await store.append(s, [M("Human", "c")], None, None, 2.0)
        return [(e.role, e.content) for e in await everything(store, s)]

    assert run(store_factory, scenario) == [("Human", "a"), ("AI", "b"), ("Human", "c")]


def test_transcript_ids_are_unique_increasing_and_of_one_format(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[str]:
        s = sid()
        for i in range(3):
            await store.append(s, [M("Human", f"{i}a"), M("AI", f"{i}b")], None, None, 5.0)
        return [e.id for e in await everything(store, s)]

    ids = run(store_factory, scenario)
    assert all(ID.fullmatch(i) for i in ids), ids
    assert ids == sorted(set(ids)) and len(ids) == 6


def test_an_entry_carries_its_post_time_in_milliseconds(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[int]:
        s = sid()
        await store.append(s, [M("Human", "a")], None, None, 1700000000.25)
        return [e.created_at for e in await everything(store, s)]

    assert run(store_factory, scenario) == [1700000000250]


def test_compaction_marks_entries_summarized_and_keeps_them(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[tuple[str, bool]]:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(5)], None, None, 1.0)
        await compact(store, s, 2)
        return [(e.content, e.summarized) for e in await everything(store, s)]

    assert run(store_factory, scenario) == [
        ("m0", True),
        ("m1", True),
        ("m2", True),
        ("m3", False),
        ("m4", False),
    ]


def test_transcript_pages_continue_after_the_cursor(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> list[list[str]]:
        s = sid()
        await store.append(s, [M("Human", str(i)) for i in range(5)], None, None, 1.0)
        pages, after = [], 0
        while True:
            page = await store.transcript(s, after, 2)
            pages.append(texts(page.entries))
            if page.next is None:
                return pages
            after = page.next

    assert run(store_factory, scenario) == [["0", "1"], ["2", "3"], ["4"]]


def test_an_unknown_session_has_an_empty_transcript(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        page = await store.transcript(sid(), 0, 10)
        return page.entries, page.next

    assert run(store_factory, scenario) == ([], None)


def test_the_transcript_page_names_the_namespace_last_posted_with(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[str | None]:
        s = sid()
        await store.append(s, [M("Human", "a")], None, "team", 1.0)
        first = (await store.transcript(s, 0, 1)).namespace
        await store.append(s, [M("Human", "b")], None, None, 2.0)
        return [first, (await store.transcript(s, 0, 1)).namespace]

    assert run(store_factory, scenario) == ["team", None]


def test_message_finds_one_entry_by_id(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0)
        second = (await everything(store, s))[1]
        found = await store.message(s, second.id)
        return (
            found == second,
            await store.message(s, "0000000000zzzzzz"),
            await store.message(sid(), second.id),
        )

    assert run(store_factory, scenario) == (True, None, None)


def test_deleting_a_window_message_removes_it_from_both(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a"), M("AI", "b"), M("Human", "c")], None, None, 1.0)
        middle = (await everything(store, s))[1]
        gone = await store.delete_message(s, middle.id, "t1")
        memory = await store.get(s, 10)
        return (
            gone == middle,
            contents(await everything(store, s)),  # type: ignore[arg-type]
            contents(memory.messages),
            await store.count(s),
            await store.needs_rebuild(s),
        )

    assert run(store_factory, scenario) == (True, ["a", "c"], ["c", "a"], 2, False)


def test_deleting_a_summarized_message_marks_the_summary_stale(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(4)], None, None, 1.0)
        await compact(store, s, 2)
        first = (await everything(store, s))[0]
        await store.delete_message(s, first.id, "t1")
        memory = await store.get(s, 10)
        return (
            contents(await everything(store, s)),  # type: ignore[arg-type]
            contents(memory.messages),
            memory.context,
            await store.needs_rebuild(s),
            await store.sessions_to_rebuild(),
        )

    result = run(store_factory, scenario)
    assert result[:4] == (["m1", "m2", "m3"], ["m3", "m2"], "summary", True)
    assert len(result[4]) == 1


def test_deleting_an_unknown_message_changes_nothing(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a")], None, None, 1.0)
        return await store.delete_message(s, "0000000000zzzzzz", "t"), texts(
            await everything(store, s)
        )

    assert run(store_factory, scenario) == (None, ["a"])


def test_editing_a_window_message_changes_both(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0)
        first = (await everything(store, s))[0]
        edited = await store.edit_message(s, first.id, "A!", "t1")
        assert edited is not None
        return (
            (edited.id == first.id, edited.role, edited.content),
            texts(await everything(store, s)),
            (await store.get(s, 10)).messages,
            await store.needs_rebuild(s),
        )

    assert run(store_factory, scenario) == (
        (True, "Human", "A!"),
        ["A!", "b"],
        [M("AI", "b"), M("Human", "A!")],
        False,
    )


def test_editing_a_summarized_message_marks_the_summary_stale(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(4)], None, None, 1.0)
        await compact(store, s, 2)
        first = (await everything(store, s))[0]
        await store.edit_message(s, first.id, "changed", "t1")
        return texts(await everything(store, s)), await store.needs_rebuild(s)

    assert run(store_factory, scenario) == (["changed", "m1", "m2", "m3"], True)


def test_an_edit_during_a_summary_makes_its_commit_refuse(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(4)], None, None, 1.0)
        pending = await store.pending(s, 2)
        assert pending is not None
        first = (await everything(store, s))[0]
        await store.edit_message(s, first.id, "changed", "t1")
        return await store.commit_summary(pending, "stale", 1), await store.needs_rebuild(s)

    assert run(store_factory, scenario) == (False, False)


def test_delete_of_the_session_removes_its_transcript(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(4)], None, None, 1.0)
        await compact(store, s, 1)
        await store.delete_message(s, (await everything(store, s))[0].id, "t1")
        await store.delete(s, None)
        return await everything(store, s), s in await store.sessions_to_rebuild()

    assert run(store_factory, scenario) == ([], False)


def test_a_session_posted_again_after_delete_starts_a_new_transcript(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> list[str]:
        s = sid()
        await store.append(s, [M("Human", "old")], None, None, 1.0)
        await store.delete(s, None)
        await store.append(s, [M("Human", "new")], None, None, 2.0)
        return texts(await everything(store, s))

    assert run(store_factory, scenario) == ["new"]


def test_a_whole_fork_copies_transcript_window_and_summary_with_the_same_ids(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s, t = sid(), sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(5)], None, None, 1.0)
        await compact(store, s, 2)
        forked = await store.fork(s, t, None, None, "t1", 3.0)
        source, target = await everything(store, s), await everything(store, t)
        a, b = await store.get(s, 10), await store.get(t, 10)
        return forked.status, forked.messages, source == target, a == b, b.context

    assert run(store_factory, scenario) == (ForkStatus.OK, 5, True, True, "summary")


def test_a_fork_at_a_window_message_keeps_the_summary_and_the_window_up_to_it(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s, t = sid(), sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(6)], None, None, 1.0)
        await compact(store, s, 3)
        at = (await everything(store, s))[4]
        forked = await store.fork(s, t, at.id, None, "t1", 3.0)
        memory = await store.get(t, 10)
        entries = await everything(store, t)
        return (
            forked.messages,
            forked.window,
            [(e.content, e.summarized) for e in entries],
            contents(memory.messages),
            memory.context,
        )

    assert run(store_factory, scenario) == (
        5,
        2,
        [("m0", True), ("m1", True), ("m2", True), ("m3", False), ("m4", False)],
        ["m4", "m3"],
        "summary",
    )


def test_a_fork_at_a_summarized_message_has_no_summary_and_windows_everything(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s, t = sid(), sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(6)], None, None, 1.0)
        await compact(store, s, 3)
        at = (await everything(store, s))[1]
        forked = await store.fork(s, t, at.id, None, "t1", 3.0)
        memory = await store.get(t, 10)
        entries = await everything(store, t)
        return (
            forked.window,
            [e.summarized for e in entries],
            contents(memory.messages),
            memory.context,
            memory.tokens,
        )

    assert run(store_factory, scenario) == (2, [False, False], ["m1", "m0"], None, 0)


def test_a_fork_into_a_session_with_data_is_refused_and_writes_nothing(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s, t = sid(), sid()
        await store.append(s, [M("Human", "a")], None, None, 1.0)
        await store.append(t, [M("Human", "mine")], None, None, 1.0)
        forked = await store.fork(s, t, None, None, "t1", 3.0)
        return forked.status, texts(await everything(store, t))

    assert run(store_factory, scenario) == (ForkStatus.TARGET_EXISTS, ["mine"])


def test_a_fork_of_an_unknown_session_or_message_is_refused(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", "a")], None, None, 1.0)
        return (
            (await store.fork(sid(), sid(), None, None, "t", 1.0)).status,
            (await store.fork(s, sid(), "0000000000zzzzzz", None, "t", 1.0)).status,
        )

    assert run(store_factory, scenario) == (ForkStatus.NO_SOURCE, ForkStatus.NO_MESSAGE)


def test_new_messages_of_a_fork_get_ids_after_the_copied_ones(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> bool:
        s, t = sid(), sid()
        await store.append(s, [M("Human", "a"), M("AI", "b")], None, None, 1.0)
        await store.fork(s, t, None, None, "t", 2.0)
        await store.append(t, [M("Human", "c")], None, None, 0.5)
        ids = [e.id for e in await everything(store, t)]
        return ids == sorted(set(ids)) and len(ids) == 3

    assert run(store_factory, scenario) is True


IMPORTED = [
    NewEntry("01abc00000000001", "Human", "old question", 1700000000000, True),
    NewEntry("01abc00000000002", "AI", "old answer", 1700000001000, False),
]


def test_import_keeps_ids_times_and_summarized_flags(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        done = await store.import_messages(s, IMPORTED, "the summary", 7, None, 5.0)
        entries = await everything(store, s)
        memory = await store.get(s, 10)
        return (
            (done.added, done.window),
            [(e.id, e.role, e.content, e.created_at, e.summarized) for e in entries],
            memory,
        )

    added, entries, memory = run(store_factory, scenario)
    assert added == (2, 1)
    assert entries == [(e.id, e.role, e.content, e.created_at, e.summarized) for e in IMPORTED]
    assert (memory.messages, memory.context, memory.tokens) == (
        [M("AI", "old answer")],
        "the summary",
        7,
    )


def test_importing_twice_adds_nothing(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.import_messages(s, IMPORTED, None, None, None, 5.0)
        again = await store.import_messages(s, IMPORTED, None, None, None, 6.0)
        return again.added, len(await everything(store, s)), await store.count(s)

    assert run(store_factory, scenario) == (0, 2, 1)


def test_a_rebuild_reads_the_summarized_entries_and_commits_once(
    store_factory: Callable[[], Store],
) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(5)], None, None, 1.0)
        await compact(store, s, 2)
        await store.edit_message(s, (await everything(store, s))[1].id, "M1", "tok")
        rebuild = await store.rebuild_pending(s)
        assert rebuild is not None
        first = await store.commit_rebuild(rebuild, "rebuilt", 3)
        second = await store.commit_rebuild(rebuild, "again", 3)
        memory = await store.get(s, 10)
        return (
            contents(rebuild.messages),
            first,
            second,
            memory.context,
            memory.tokens,
            await store.needs_rebuild(s),
            await store.rebuild_pending(s),
        )

    assert run(store_factory, scenario) == (
        ["m0", "M1", "m2"],
        True,
        False,
        "rebuilt",
        4,
        False,
        None,
    )


def test_a_rebuild_is_refused_after_another_edit(store_factory: Callable[[], Store]) -> None:
    async def scenario(store: Store) -> Any:
        s = sid()
        await store.append(s, [M("Human", f"m{i}") for i in range(5)], None, None, 1.0)
        await compact(store, s, 2)
        first = (await everything(store, s))[0]
        await store.edit_message(s, first.id, "one", "tok1")
        rebuild = await store.rebuild_pending(s)
        assert rebuild is not None
        await store.edit_message(s, first.id, "two", "tok2")
        done = await store.commit_rebuild(rebuild, "stale", 1)
        return done, (await store.get(s, 1)).context, await store.needs_rebuild(s)

    assert run(store_factory, scenario) == (False, "summary", True)
