"""What only the SQLite store promises: one file that several processes share safely, a
versioned schema, clear errors for unusable paths, and reads that never scan."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chatcli.server.errors import StoreUnavailable
from chatcli.server.sqlite_store import MIGRATIONS, READ_QUERIES, SQLiteStore
from chatcli.server.sqlite_vectors import VECTOR_QUERIES
from chatcli.server.store import Message


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "memory.db"
    SQLiteStore(path)
    assert path.exists()


def test_the_file_is_in_wal_mode_with_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    SQLiteStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"

    async def write() -> None:
        store = SQLiteStore(path)
        await store.append("kept", [Message("Human", "remember me")], "summary", None, 1.0)
        await store.close()

    async def read() -> tuple[list[Message], str | None]:
        store = SQLiteStore(path)
        memory = await store.get("kept", 10)
        await store.close()
        return memory.messages, memory.context

    asyncio.run(write())
    assert asyncio.run(read()) == ([Message("Human", "remember me")], "summary")


def test_a_file_from_a_newer_chatcli_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    SQLiteStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreUnavailable, match="newer than this chatcli"):
        SQLiteStore(path)


def test_an_unwritable_location_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable) as caught:
        SQLiteStore(blocker / "memory.db")
    message = caught.value.message
    assert "\n" not in message
    assert str(blocker / "memory.db") in message
    assert "--db" in message


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(b"this is not sqlite at all, just some text" * 100)
    with pytest.raises(StoreUnavailable, match="cannot open the SQLite memory store"):
        SQLiteStore(path)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from chatcli.server.sqlite_store import SQLiteStore
    from chatcli.server.store import Message

    async def main(path, name, n):
        store = SQLiteStore(path)
        for i in range(n):
            await store.append("shared", [Message(name, f"{name}-{i}")], None, None, float(i))
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def test_several_processes_append_to_one_file_without_losing_a_message(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    SQLiteStore(path)
    n = 150
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(n)])
        for name in ("one", "two", "three")
    ]
    assert [w.wait(120) for w in writers] == [0, 0, 0]

    async def read() -> tuple[int, list[Message]]:
        store = SQLiteStore(path)
        result = await store.count("shared"), (await store.get("shared", 10 * n)).messages
        await store.close()
        return result

    count, messages = asyncio.run(read())
    assert count == 3 * n
    for name in ("one", "two", "three"):
        mine = [m.content for m in reversed(messages) if m.role == name]
        assert mine == [f"{name}-{i}" for i in range(n)]


QUERIES = {**READ_QUERIES, **VECTOR_QUERIES}


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_request_queries_search_an_index_instead_of_scanning(tmp_path: Path, query: str) -> None:
    """Why GET and POST cost the same at 1k and 1M messages: no query reads rows it skips."""
    path = tmp_path / "memory.db"
    SQLiteStore(path)
    sql, params = QUERIES[query]
    with sqlite3.connect(path) as conn:
        plan = " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING" in plan and "INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_file_from_before_the_transcript_adopts_each_window_as_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memory.db"
    with sqlite3.connect(path) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO sessions(id, context, count) VALUES ('old', 'summary', 2)")
        conn.executemany(
            "INSERT INTO messages(session_id, role, content) VALUES ('old', ?, ?)",
            [("Human", "hello"), ("AI", "hi")],
        )

    async def read() -> tuple[list[tuple[str, str, bool]], list[Message]]:
        store = SQLiteStore(path)
        page = await store.transcript("old", 0, 10)
        await store.append("old", [Message("Human", "again")], None, None, 2e9)
        memory = await store.get("old", 10)
        await store.close()
        return [(e.role, e.content, e.summarized) for e in page.entries], memory.messages

    entries, window = asyncio.run(read())
    assert entries == [("Human", "hello", False), ("AI", "hi", False)]
    assert window == [Message("Human", "again"), Message("AI", "hi"), Message("Human", "hello")]


def test_a_file_from_before_recall_has_its_transcript_keyword_indexed_and_queued_to_embed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memory.db"
    with sqlite3.connect(path) as conn:
        for step in MIGRATIONS[:3]:
            for statement in step:
                if isinstance(statement, str):
                    conn.execute(statement)
                else:
                    statement(conn)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO sessions(id, next_seq) VALUES ('old', 2)")
        conn.executemany(
            "INSERT INTO transcript(session_id, seq, id, role, content, created_at) "
            "VALUES ('old', ?, ?, ?, ?, 0)",
            [(1, "m1", "Human", "my dog is Rex"), (2, "m2", "AI", "hello Rex")],
        )

    async def read() -> tuple[list[str], list[str]]:
        store = SQLiteStore(path)
        found = [f.entry.id for f in await store.keyword_search("old", "dog", 10)]
        waiting = [i.text for i in await store.unindexed("any-model", 10)]
        await store.close()
        return found, waiting

    assert asyncio.run(read()) == (["m1"], ["Human: my dog is Rex", "AI: hello Rex"])
