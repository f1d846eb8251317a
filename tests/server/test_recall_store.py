"""The Store protocol's recall part, the same contract on every store that has it: what is
left to index, vectors stored once per message version and model, keyword and exact dense
search within a session or across all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from chatcli.server.store import Message, NewEntry, Store, ToEmbed
from tests.server.conftest import RECALL_STORES, RECALL_TEST_DATABASE, open_store

T = TypeVar("T")
MODEL = "test-model-4"
OTHER = "other-model-4"
NOW = 1.7e9


@pytest.fixture(params=RECALL_STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened, _ = open_store(request.param, tmp_path, request, RECALL_TEST_DATABASE)
    yield opened
    asyncio.run(opened.close())


def run(store: Store, work: Callable[[Store], Awaitable[T]]) -> T:
    """One event loop per test body, as the store's connections expect."""

    async def body() -> T:
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(body())


def vec(*values: float) -> np.ndarray:
    v = np.array(values + (0.0,) * (4 - len(values)), dtype=np.float32)
    return v / np.linalg.norm(v)


def blob(v: np.ndarray) -> bytes:
    return v.astype("<f4").tobytes()


def sid() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"


async def index_all(store: Store, model: str, vectors: dict[str, np.ndarray]) -> int:
    """Store the vector given for each unindexed message's content."""
    items = await store.unindexed(model, 1000)
    pairs = [(item, blob(vectors[item.text.split(": ", 1)[1]])) for item in items]
    return await store.add_vectors(model, pairs)


def test_posted_messages_wait_to_be_indexed_as_role_and_content(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> tuple[list[str], int]:
        await store.append(s, [Message("Human", "a"), Message("AI", "b")], None, None, NOW)
        items = [i for i in await store.unindexed(MODEL, 100) if i.session_id == s]
        return [i.text for i in items], await store.backlog(MODEL)

    texts, left = run(store, work)
    assert texts == ["Human: a", "AI: b"]
    assert left >= 2


def test_a_stored_vector_takes_the_message_off_the_backlog(store: Store) -> None:
    async def work(store: Store) -> tuple[int, int, list[ToEmbed]]:
        await store.append(sid(), [Message("Human", "a")], None, None, NOW)
        stored = await index_all(store, MODEL, {"a": vec(1)})
        return stored, await store.backlog(MODEL), await store.unindexed(MODEL, 10)

    assert run(store, work) == (1, 0, [])


def test_storing_the_same_vectors_again_stores_nothing(store: Store) -> None:
    async def work(store: Store) -> int:
        await store.append(sid(), [Message("Human", "a")], None, None, NOW)
        items = await store.unindexed(MODEL, 10)
        await store.add_vectors(MODEL, [(items[0], blob(vec(1)))])
        return await store.add_vectors(MODEL, [(items[0], blob(vec(1)))])

    assert run(store, work) == 0


def test_a_vector_of_a_message_edited_meanwhile_is_not_stored(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> tuple[int, list[str]]:
        await store.append(s, [Message("Human", "old")], None, None, NOW)
        (item,) = await store.unindexed(MODEL, 10)
        entry = (await store.transcript(s, 0, 10)).entries[0]
        await store.edit_message(s, entry.id, "new", "token")
        stored = await store.add_vectors(MODEL, [(item, blob(vec(1)))])
        return stored, [i.text for i in await store.unindexed(MODEL, 10)]

    assert run(store, work) == (0, ["Human: new"])


def test_a_vector_of_a_deleted_message_is_not_stored(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> tuple[int, int]:
        await store.append(s, [Message("Human", "gone")], None, None, NOW)
        (item,) = await store.unindexed(MODEL, 10)
        await store.delete(s, None)
        return await store.add_vectors(MODEL, [(item, blob(vec(1)))]), await store.backlog(MODEL)

    assert run(store, work) == (0, 0)


def test_another_models_vectors_are_re_embedded_not_searched(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> tuple[int, list[Any], list[str]]:
        await store.append(s, [Message("Human", "apricot")], None, None, NOW)
        await index_all(store, OTHER, {"apricot": vec(1)})
        left = await store.backlog(MODEL)
        dense = await store.nearest(s, MODEL, vec(1), 10)
        keyword = [f.entry.content for f in await store.keyword_search(s, "apricot", 10)]
        return left, dense, keyword

    assert run(store, work) == (1, [], ["apricot"])


def test_nearest_is_exact_and_best_first(store: Store) -> None:
    s = sid()
    vectors = {"x": vec(1), "xy": vec(1, 1), "y": vec(0, 1), "z": vec(0, 0, 1)}

    async def work(store: Store) -> list[tuple[str, float]]:
        await store.append(s, [Message("Human", c) for c in vectors], None, None, NOW)
        await index_all(store, MODEL, vectors)
        return [(f.entry.content, f.score) for f in await store.nearest(s, MODEL, vec(1), 3)]

    found = run(store, work)
    assert [c for c, _ in found] == ["x", "xy", "y"]
    assert found[0][1] == pytest.approx(1.0)


def test_nearest_within_a_session_or_across_all(store: Store) -> None:
    one, two = sid(), sid()

    async def work(store: Store) -> tuple[set[str], set[str]]:
        await store.append(one, [Message("Human", "p")], None, None, NOW)
        await store.append(two, [Message("Human", "q")], None, None, NOW)
        await index_all(store, MODEL, {"p": vec(1), "q": vec(1, 0.1)})
        mine = {f.session_id for f in await store.nearest(one, MODEL, vec(1), 10)}
        every = {f.session_id for f in await store.nearest(None, MODEL, vec(1), 10)}
        return mine, every

    mine, every = run(store, work)
    assert mine == {one}
    assert {one, two} <= every


def test_nearest_sees_vectors_stored_and_removed_after_a_search(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> tuple[list[str], list[str], list[str]]:
        await store.append(s, [Message("Human", "a")], None, None, NOW)
        await index_all(store, MODEL, {"a": vec(1)})
        first = [f.entry.content for f in await store.nearest(s, MODEL, vec(1), 10)]
        await store.append(s, [Message("Human", "b")], None, None, NOW)
        await index_all(store, MODEL, {"b": vec(1, 1)})
        second = [f.entry.content for f in await store.nearest(s, MODEL, vec(1), 10)]
        a = (await store.transcript(s, 0, 10)).entries[0]
        await store.delete_message(s, a.id, "token")
        third = [f.entry.content for f in await store.nearest(s, MODEL, vec(1), 10)]
        return first, second, third

    assert run(store, work) == (["a"], ["a", "b"], ["b"])


def test_keyword_search_finds_any_word_within_the_session(store: Store) -> None:
    one, two = sid(), sid()

    async def work(store: Store) -> list[str]:
        messages = [Message("Human", "red apples"), Message("AI", "green pears")]
        await store.append(one, messages, None, None, NOW)
        await store.append(two, [Message("Human", "red car")], None, None, NOW)
        found = await store.keyword_search(one, "red pears!", 10)
        return sorted(f.entry.content for f in found)

    assert run(store, work) == ["green pears", "red apples"]


def test_keyword_search_matches_the_role_too(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> list[str]:
        await store.append(s, [Message("Alice", "hello"), Message("Bob", "hi")], None, None, NOW)
        return [f.entry.role for f in await store.keyword_search(s, "what did alice say", 10)]

    assert run(store, work) == ["Alice"]


def test_keyword_search_without_words_finds_nothing(store: Store) -> None:
    s = sid()

    async def work(store: Store) -> list[Any]:
        await store.append(s, [Message("Human", "anything")], None, None, NOW)
        return await store.keyword_search(s, ' "*) OR ', 10)

    assert run(store, work) == []


def test_forks_and_imports_are_indexed_like_posts(store: Store) -> None:
    source, fork, imported = sid(), sid(), sid()

    async def work(store: Store) -> tuple[list[str], list[str], set[str]]:
        await store.append(source, [Message("Human", "walrus")], None, None, NOW)
        await store.fork(source, fork, None, None, "token", NOW)
        entry = NewEntry("m1", "Human", "walrus import", 1_000, False)
        await store.import_messages(imported, [entry], None, None, None, NOW)
        forked = [f.entry.content for f in await store.keyword_search(fork, "walrus", 10)]
        found = [f.entry.content for f in await store.keyword_search(imported, "walrus", 10)]
        waiting = {i.session_id for i in await store.unindexed(MODEL, 100)}
        return forked, found, waiting

    forked, found, waiting = run(store, work)
    assert (forked, found) == (["walrus"], ["walrus import"])
    assert {source, fork, imported} <= waiting
