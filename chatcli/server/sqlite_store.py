"""The SQLite store: one file, WAL, safe for several processes at once.

A `chatcli serve` and the CLI's embedded servers may all open the same file, so every
write is one `BEGIN IMMEDIATE` transaction (it takes the write lock up front, so two
writers queue on `busy_timeout` instead of failing on a lock upgrade), and nothing is
cached in memory between requests.

Messages carry a global AUTOINCREMENT id, never reused, which orders them within a
session and lets `commit_summary` name exactly the rows it summarized: a session deleted
and re-created meanwhile has new ids, so a stale summary cannot remove its messages.
Each session row keeps its message count so reads never count rows; with the
(session_id, id) index a GET or POST costs the same at 1k or 1M stored messages.

The transcript (table `transcript`) is written in the same transaction as the window:
each window row carries its transcript entry's public id (`messages.message_id`), and
compaction marks the entries it summarized instead of removing them. Entries are ordered
by `seq`, a per-session counter (`sessions.next_seq`) that also makes the ids unique.
A file from before the transcript is adopted by its migration: what each window holds
becomes the start of its transcript, once, under the write lock.

Recall (long-term memory): table `recall` holds one row per transcript entry, written in
the same transaction as the entry. Its `doc` (AUTOINCREMENT, never reused) is the rowid of
the entry's keyword entry in `recall_fts`, a contentless FTS5 table over "Role: content"
with the session as a token of its own; `model` and `vector` stay NULL until the indexer
stores a vector. An edit gives the entry a new `doc` (the old row and keyword entry go),
so a vector computed from the old text can never be stored against the new. Dense search
is exact, over vectors held in memory by sqlite_vectors.VectorCache and kept true by
`recall_meta`'s generation counter (see there).

SQLite calls block, so they run on a small pool of threads, one connection per thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chatcli.server.errors import StoreUnavailable
from chatcli.server.store import (
    AlreadyClaimed,
    Claim,
    Entry,
    Forked,
    ForkStatus,
    Found,
    Imported,
    Memory,
    Message,
    NewEntry,
    Page,
    Pending,
    Rebuild,
    ToEmbed,
    message_id,
)

if TYPE_CHECKING:
    import numpy as np

    from chatcli.server.sqlite_vectors import VectorCache

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
THREADS = 4


def _adopt_windows(conn: sqlite3.Connection) -> None:
    """Every window message of a file written before the transcript becomes a transcript
    entry (time: now, the true one is unknown), oldest first, in each session's order."""
    now_ms = int(time.time() * 1000)
    rows = conn.execute(
        "SELECT id, session_id, role, content FROM messages ORDER BY session_id, id"
    ).fetchall()
    seqs: dict[str, int] = {}
    for row_id, session_id, role, content in rows:
        seq = seqs.get(session_id, 0) + 1
        seqs[session_id] = seq
        public = message_id(now_ms, seq)
        conn.execute(
            "INSERT INTO transcript(session_id, seq, id, role, content, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, seq, public, role, content, now_ms),
        )
        conn.execute("UPDATE messages SET message_id = ? WHERE id = ?", (public, row_id))
    for session_id, seq in seqs.items():
        conn.execute(
            "UPDATE sessions SET next_seq = ?, last_ms = ? WHERE id = ?",
            (seq, now_ms, session_id),
        )


Step = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: list[list[Step]] = [
    [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            context TEXT,
            tokens INTEGER NOT NULL DEFAULT 0,
            count INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessions_by_count ON sessions(count)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL
        )""",
        "CREATE INDEX messages_by_session ON messages(session_id, id)",
        """CREATE TABLE session_index (
            namespace TEXT NOT NULL,
            session_id TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (namespace, session_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX session_index_by_score ON session_index(namespace, score, session_id)",
        """CREATE TABLE locks (
            session_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires REAL NOT NULL
        ) WITHOUT ROWID""",
    ],
    [
        """CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            expires REAL NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX idempotency_by_expiry ON idempotency(expires)",
    ],
    [
        """CREATE TABLE transcript (
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            id TEXT NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            summarized INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, seq)
        )""",
        "CREATE UNIQUE INDEX transcript_by_id ON transcript(session_id, id)",
        "ALTER TABLE messages ADD COLUMN message_id TEXT",
        "ALTER TABLE sessions ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN last_ms INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN namespace TEXT",
        "ALTER TABLE sessions ADD COLUMN rebuild TEXT",
        "CREATE INDEX sessions_to_rebuild ON sessions(rebuild) WHERE rebuild IS NOT NULL",
        _adopt_windows,
    ],
    [
        """CREATE TABLE recall (
            doc INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            model TEXT,
            vector BLOB,
            gen INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX recall_by_message ON recall(session_id, message_id)",
        "CREATE INDEX recall_by_model ON recall(model, doc)",
        "CREATE INDEX recall_by_gen ON recall(gen) WHERE vector IS NOT NULL",
        "CREATE VIRTUAL TABLE recall_fts USING fts5(text, session, content='')",
        """CREATE TABLE recall_meta (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            gen INTEGER NOT NULL,
            removed INTEGER NOT NULL
        )""",
        "INSERT INTO recall_meta(id, gen, removed) VALUES (0, 0, 0)",
        "INSERT INTO recall(session_id, message_id) "
        "SELECT session_id, id FROM transcript ORDER BY session_id, seq",
        lambda conn: _add_keywords(conn, 0),
    ],
]
"""Schema version N+1 is MIGRATIONS[N]; append new steps, never edit old ones."""

GET_MESSAGES = "SELECT role, content FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?"
OLDEST_MESSAGES = "SELECT id, role, content FROM messages WHERE session_id = ? ORDER BY id LIMIT ?"
COUNT_HANDED_OUT = "SELECT count(*) FROM messages WHERE session_id = ? AND id BETWEEN ? AND ?"
SESSION_COUNT = "SELECT count FROM sessions WHERE id = ?"
LIST_SESSIONS = (
    "SELECT session_id FROM session_index WHERE namespace = ? "
    "ORDER BY score, session_id LIMIT ? OFFSET ?"
)
SESSIONS_OVER = "SELECT id FROM sessions WHERE count > ?"
TRANSCRIPT_PAGE = (
    "SELECT seq, id, role, content, created_at, summarized FROM transcript "
    "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
TRANSCRIPT_ENTRY = (
    "SELECT seq, id, role, content, created_at, summarized FROM transcript "
    "WHERE session_id = ? AND id = ?"
)
SUMMARIZED = (
    "SELECT role, content FROM transcript WHERE session_id = ? AND summarized = 1 ORDER BY seq"
)
TO_REBUILD = "SELECT id FROM sessions WHERE rebuild IS NOT NULL"
DOC_TEXT = "t.role || ': ' || t.content"
"""What a message is indexed as, "Role: content", from `transcript t`: the keyword entry and
the text embedded are both this expression, so a contentless FTS delete (which must repeat
the indexed values exactly) always matches what was inserted."""
DOC_SESSION = "'s' || hex(t.session_id)"
"""The session as one FTS token (letters and digits only), so a search within a session is
an FTS AND instead of a filter after ranking every session's matches."""
JOIN_TRANSCRIPT = "JOIN transcript t ON t.session_id = r.session_id AND t.id = r.message_id"
UNINDEXED_NONE = (
    f"SELECT r.doc, r.session_id, r.message_id, {DOC_TEXT} FROM recall r {JOIN_TRANSCRIPT} "
    "WHERE r.model IS NULL ORDER BY r.doc LIMIT ?"
)
UNINDEXED_OTHER = (
    f"SELECT r.doc, r.session_id, r.message_id, {DOC_TEXT} FROM recall r {JOIN_TRANSCRIPT} "
    "WHERE r.model < ? OR r.model > ? ORDER BY r.doc LIMIT ?"
)
BACKLOG_NONE = "SELECT count(*) FROM recall WHERE model IS NULL"
BACKLOG_OTHER = "SELECT count(*) FROM recall WHERE model < ? OR model > ?"
KEYWORD = (
    "SELECT recall_fts.rowid, -bm25(recall_fts, 1.0, 0.0) FROM recall_fts "
    "WHERE recall_fts MATCH ? ORDER BY bm25(recall_fts, 1.0, 0.0) LIMIT ?"
)
ENTRIES_OF_DOCS = (
    "SELECT r.doc, r.session_id, t.seq, t.id, t.role, t.content, t.created_at, t.summarized "
    f"FROM recall r {JOIN_TRANSCRIPT} WHERE r.doc IN (SELECT value FROM json_each(?))"
)
READ_QUERIES = {
    "get": (GET_MESSAGES, ("s", 12)),
    "pending": (OLDEST_MESSAGES, ("s", 6)),
    "commit": (COUNT_HANDED_OUT, ("s", 1, 9)),
    "count": (SESSION_COUNT, ("s",)),
    "list": (LIST_SESSIONS, ("", 10, 0)),
    "over": (SESSIONS_OVER, (12,)),
    "transcript": (TRANSCRIPT_PAGE, ("s", 100, 100)),
    "message": (TRANSCRIPT_ENTRY, ("s", "m")),
    "to_rebuild": (TO_REBUILD, ()),
    "unindexed": (UNINDEXED_NONE, (10,)),
    "unindexed_other": (UNINDEXED_OTHER, ("m", "m", 10)),
    "backlog": (BACKLOG_NONE, ()),
    "backlog_other": (BACKLOG_OTHER, ("m", "m")),
    "entries_of_docs": (ENTRIES_OF_DOCS, ("[1, 2]",)),
}
"""The queries whose cost must not grow with the data, with sample parameters, so a test
can check each one's plan searches an index."""

PRUNE_BATCH = 100
"""Expired idempotency records removed per claim: bounded work per POST, and claims
outpace nothing since each removes up to this many."""

DEFAULT_NAMESPACE = ""
"""The unnamespaced index; no valid namespace is empty, so it cannot collide."""


@dataclass(frozen=True)
class IdRange:
    """Which messages `pending` handed out: ids `first`..`last`, `count` of them.

    Ids only grow, so the range names exactly those messages however many were posted
    meanwhile; fewer than `count` left in it means some were deleted.
    """

    first: int
    last: int
    count: int


class SQLiteStore:
    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._writer = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._vectors: VectorCache | None = None
        self._prepare()

    def _prepare(self) -> None:
        """Create the file and bring its schema up to date now, so an unusable path fails
        at start-up with a message, not on the first request."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._open()
            try:
                _migrate(conn)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"cannot open the SQLite memory store {self.path}: {_reason(exc)}; "
                "choose a writable file with --db or server.db"
            ) from None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _write(self, conn: sqlite3.Connection) -> _Transaction:
        """Writers of this process take turns on a lock, which wakes the next one at once;
        left to SQLite's busy handler they would sleep and retry, and POST p99 would
        grow with concurrency. Other processes still queue on busy_timeout."""
        return _write(conn, self._writer)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(THREADS, thread_name_prefix="chatcli-sqlite")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"the SQLite memory store {self.path} failed: {_reason(exc)}"
            ) from exc

    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        context: str | None,
        namespace: str | None,
        now: float,
        claim: Claim | None = None,
    ) -> int:
        ns = namespace or DEFAULT_NAMESPACE
        now_ms = int(now * 1000)

        def work(conn: sqlite3.Connection) -> int:
            with self._write(conn):
                if claim is not None:
                    _claim_idempotency(conn, claim, now)
                conn.execute("INSERT OR IGNORE INTO sessions(id) VALUES (?)", (session_id,))
                # -- transcript: the entries' ids and places, which the window rows carry
                entries = _number(conn, session_id, len(messages), now_ms, namespace)
                rows = [
                    (session_id, m.role, m.content, public)
                    for m, (_, public) in zip(messages, entries, strict=True)
                ]
                if rows:
                    conn.executemany(
                        "INSERT INTO messages(session_id, role, content, message_id) "
                        "VALUES (?, ?, ?, ?)",
                        rows,
                    )
                if context is not None:
                    conn.execute(
                        "UPDATE sessions SET count = count + ?, context = ? WHERE id = ?",
                        (len(rows), context, session_id),
                    )
                elif rows:
                    conn.execute(
                        "UPDATE sessions SET count = count + ? WHERE id = ?",
                        (len(rows), session_id),
                    )
                conn.execute(
                    "INSERT INTO session_index(namespace, session_id, score) VALUES (?, ?, ?) "
                    "ON CONFLICT(namespace, session_id) DO UPDATE SET score = excluded.score",
                    (ns, session_id, now),
                )
                # -- transcript
                if entries:
                    conn.executemany(
                        "INSERT INTO transcript(session_id, seq, id, role, content, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (session_id, seq, public, m.role, m.content, now_ms)
                            for m, (seq, public) in zip(messages, entries, strict=True)
                        ],
                    )
                    _recall_added(conn, session_id, entries[0][0] - 1)
                return conn.execute(SESSION_COUNT, (session_id,)).fetchone()[0]

        return await self._run(work)

    async def get(self, session_id: str, limit: int) -> Memory:
        def work(conn: sqlite3.Connection) -> Memory:
            with _read(conn):
                row = conn.execute(
                    "SELECT context, tokens FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None:
                    return Memory([], None, 0)
                found = conn.execute(
                    GET_MESSAGES,
                    (session_id, limit),
                ).fetchall()
            return Memory([Message(r, c) for r, c in found], row[0], row[1])

        return await self._run(work)

    async def delete(self, session_id: str, namespace: str | None) -> None:
        ns = namespace or DEFAULT_NAMESPACE

        def work(conn: sqlite3.Connection) -> None:
            with self._write(conn):
                conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                _recall_removed(conn, "r.session_id = ?", (session_id,))
                conn.execute("DELETE FROM transcript WHERE session_id = ?", (session_id,))
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                conn.execute(
                    "DELETE FROM session_index WHERE namespace = ? AND session_id = ?",
                    (ns, session_id),
                )

        await self._run(work)

    async def list_sessions(self, namespace: str | None, offset: int, limit: int) -> list[str]:
        ns = namespace or DEFAULT_NAMESPACE

        def work(conn: sqlite3.Connection) -> list[str]:
            found = conn.execute(
                LIST_SESSIONS,
                (ns, limit, offset),
            ).fetchall()
            return [r[0] for r in found]

        return await self._run(work)

    async def count(self, session_id: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute(SESSION_COUNT, (session_id,)).fetchone()
            return row[0] if row else 0

        return await self._run(work)

    async def pending(self, session_id: str, keep: int) -> Pending[IdRange] | None:
        def work(conn: sqlite3.Connection) -> Pending[IdRange] | None:
            with _read(conn):
                row = conn.execute(
                    "SELECT context, count FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None or row[1] <= keep:
                    return None
                found = conn.execute(
                    OLDEST_MESSAGES,
                    (session_id, row[1] - keep),
                ).fetchall()
            if not found:
                return None
            marker = IdRange(found[0][0], found[-1][0], len(found))
            return Pending(session_id, [Message(r, c) for _, r, c in found], row[0], marker)

        return await self._run(work)

    async def commit_summary(self, pending: Pending[IdRange], summary: str, tokens: int) -> bool:
        first, last, n = pending.marker.first, pending.marker.last, pending.marker.count
        session_id = pending.session_id

        def work(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                present = conn.execute(
                    COUNT_HANDED_OUT,
                    (session_id, first, last),
                ).fetchone()[0]
                if present != n:
                    return False
                held = conn.execute(
                    "SELECT role, content FROM messages WHERE session_id = ? "
                    "AND id BETWEEN ? AND ? ORDER BY id",
                    (session_id, first, last),
                ).fetchall()
                if [Message(r, c) for r, c in held] != pending.messages:
                    return False  # edited meanwhile: summarize what it says now
                conn.execute(
                    "UPDATE transcript SET summarized = 1 WHERE session_id = ? AND id IN "
                    "(SELECT message_id FROM messages WHERE session_id = ? "
                    "AND id BETWEEN ? AND ?)",
                    (session_id, session_id, first, last),
                )
                conn.execute(
                    "DELETE FROM messages WHERE session_id = ? AND id BETWEEN ? AND ?",
                    (session_id, first, last),
                )
                conn.execute(
                    "UPDATE sessions SET context = ?, tokens = tokens + ?, count = count - ? "
                    "WHERE id = ?",
                    (summary, tokens, n, session_id),
                )
                return True

        return await self._run(work)

    async def try_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            now = time.time()
            with self._write(conn):
                row = conn.execute(
                    "SELECT owner, expires FROM locks WHERE session_id = ?", (session_id,)
                ).fetchone()
                if row is not None and row[0] != owner and row[1] > now:
                    return False
                conn.execute(
                    "INSERT OR REPLACE INTO locks(session_id, owner, expires) VALUES (?, ?, ?)",
                    (session_id, owner, now + ttl),
                )
                return True

        return await self._run(work)

    async def refresh_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            now = time.time()
            with self._write(conn):
                cursor = conn.execute(
                    "UPDATE locks SET expires = ? WHERE session_id = ? AND owner = ? "
                    "AND expires > ?",
                    (now + ttl, session_id, owner, now),
                )
                return cursor.rowcount == 1

        return await self._run(work)

    async def unlock(self, session_id: str, owner: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            with self._write(conn):
                conn.execute(
                    "DELETE FROM locks WHERE session_id = ? AND owner = ?", (session_id, owner)
                )

        await self._run(work)

    async def sessions_over(self, window: int) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            found = conn.execute(SESSIONS_OVER, (window,)).fetchall()
            return [r[0] for r in found]

        return await self._run(work)

    async def transcript(self, session_id: str, after: int, limit: int) -> Page:
        def work(conn: sqlite3.Connection) -> Page:
            with _read(conn):
                row = conn.execute(
                    "SELECT namespace FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                found = conn.execute(TRANSCRIPT_PAGE, (session_id, after, limit + 1)).fetchall()
            entries = [_entry(r) for r in found[:limit]]
            more = len(found) > limit
            return Page(entries, entries[-1].seq if more else None, row[0] if row else None)

        return await self._run(work)

    async def message(self, session_id: str, message_id: str) -> Entry | None:
        def work(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(TRANSCRIPT_ENTRY, (session_id, message_id)).fetchone()
            return None if row is None else _entry(row)

        return await self._run(work)

    async def delete_message(self, session_id: str, message_id: str, token: str) -> Entry | None:
        def work(conn: sqlite3.Connection) -> Entry | None:
            with self._write(conn):
                row = conn.execute(TRANSCRIPT_ENTRY, (session_id, message_id)).fetchone()
                if row is None:
                    return None
                entry = _entry(row)
                _recall_removed(
                    conn, "r.session_id = ? AND r.message_id = ?", (session_id, message_id)
                )
                conn.execute(
                    "DELETE FROM transcript WHERE session_id = ? AND seq = ?",
                    (session_id, entry.seq),
                )
                if entry.summarized:
                    _mark_stale(conn, session_id, token)
                else:
                    gone = conn.execute(
                        "DELETE FROM messages WHERE session_id = ? AND message_id = ?",
                        (session_id, message_id),
                    ).rowcount
                    conn.execute(
                        "UPDATE sessions SET count = count - ? WHERE id = ?", (gone, session_id)
                    )
                return entry

        return await self._run(work)

    async def edit_message(
        self, session_id: str, message_id: str, content: str, token: str
    ) -> Entry | None:
        def work(conn: sqlite3.Connection) -> Entry | None:
            with self._write(conn):
                row = conn.execute(TRANSCRIPT_ENTRY, (session_id, message_id)).fetchone()
                if row is None:
                    return None
                entry = _entry(row)
                _recall_removed(
                    conn, "r.session_id = ? AND r.message_id = ?", (session_id, message_id)
                )
                conn.execute(
                    "UPDATE transcript SET content = ? WHERE session_id = ? AND seq = ?",
                    (content, session_id, entry.seq),
                )
                _recall_added(conn, session_id, entry.seq - 1, entry.seq)
                if entry.summarized:
                    _mark_stale(conn, session_id, token)
                else:
                    conn.execute(
                        "UPDATE messages SET content = ? WHERE session_id = ? AND message_id = ?",
                        (content, session_id, message_id),
                    )
                return Entry(
                    entry.id, entry.role, content, entry.created_at, entry.summarized, entry.seq
                )

        return await self._run(work)

    async def fork(
        self,
        source: str,
        target: str,
        at: str | None,
        namespace: str | None,
        token: str,
        now: float,
    ) -> Forked:
        def work(conn: sqlite3.Connection) -> Forked:
            with self._write(conn):
                src = conn.execute(
                    "SELECT context, tokens, next_seq, last_ms, rebuild FROM sessions WHERE id = ?",
                    (source,),
                ).fetchone()
                if src is None:
                    return Forked(ForkStatus.NO_SOURCE)
                if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (target,)).fetchone():
                    return Forked(ForkStatus.TARGET_EXISTS)
                if at is None:
                    upto, keep_summary = src[2], True
                else:
                    row = conn.execute(TRANSCRIPT_ENTRY, (source, at)).fetchone()
                    if row is None:
                        return Forked(ForkStatus.NO_MESSAGE)
                    upto, keep_summary = row[0], not row[5]
                copied = conn.execute(
                    "INSERT INTO transcript(session_id, seq, id, role, content, created_at, "
                    "summarized) SELECT ?, seq, id, role, content, created_at, "
                    "summarized * ? FROM transcript WHERE session_id = ? AND seq <= ?",
                    (target, int(keep_summary), source, upto),
                ).rowcount
                _recall_added(conn, target, 0)
                if keep_summary:
                    window = conn.execute(
                        "INSERT INTO messages(session_id, role, content, message_id) "
                        "SELECT ?, m.role, m.content, m.message_id FROM messages m "
                        "JOIN transcript t ON t.session_id = m.session_id AND t.id = m.message_id "
                        "WHERE m.session_id = ? AND t.seq <= ? ORDER BY m.id",
                        (target, source, upto),
                    ).rowcount
                else:
                    window = conn.execute(
                        "INSERT INTO messages(session_id, role, content, message_id) "
                        "SELECT ?, role, content, id FROM transcript WHERE session_id = ? "
                        "ORDER BY seq",
                        (target, target),
                    ).rowcount
                conn.execute(
                    "INSERT INTO sessions(id, context, tokens, count, next_seq, last_ms, "
                    "namespace, rebuild) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        target,
                        src[0] if keep_summary else None,
                        src[1] if keep_summary else 0,
                        window,
                        src[2],
                        src[3],
                        namespace,
                        token if keep_summary and src[4] is not None else None,
                    ),
                )
                _index(conn, namespace, target, now)
                return Forked(ForkStatus.OK, copied, window)

        return await self._run(work)

    async def import_messages(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        context: str | None,
        tokens: int | None,
        namespace: str | None,
        now: float,
    ) -> Imported:
        def work(conn: sqlite3.Connection) -> Imported:
            with self._write(conn):
                conn.execute("INSERT OR IGNORE INTO sessions(id) VALUES (?)", (session_id,))
                fresh = [
                    e
                    for e in entries
                    if conn.execute(
                        "SELECT 1 FROM transcript WHERE session_id = ? AND id = ?",
                        (session_id, e.id),
                    ).fetchone()
                    is None
                ]
                places = _number(conn, session_id, len(fresh), int(now * 1000), namespace)
                windowed = 0
                for entry, (seq, _) in zip(fresh, places, strict=True):
                    conn.execute(
                        "INSERT INTO transcript(session_id, seq, id, role, content, created_at, "
                        "summarized) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            session_id,
                            seq,
                            entry.id,
                            entry.role,
                            entry.content,
                            entry.created_at,
                            int(entry.summarized),
                        ),
                    )
                    if not entry.summarized:
                        windowed += 1
                        conn.execute(
                            "INSERT INTO messages(session_id, role, content, message_id) "
                            "VALUES (?, ?, ?, ?)",
                            (session_id, entry.role, entry.content, entry.id),
                        )
                if places:
                    _recall_added(conn, session_id, places[0][0] - 1)
                conn.execute(
                    "UPDATE sessions SET count = count + ?, context = coalesce(?, context), "
                    "tokens = coalesce(?, tokens) WHERE id = ?",
                    (windowed, context, tokens, session_id),
                )
                _index(conn, namespace, session_id, now)
                window = conn.execute(SESSION_COUNT, (session_id,)).fetchone()[0]
                return Imported(len(fresh), window)

        return await self._run(work)

    async def needs_rebuild(self, session_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            query = "SELECT rebuild FROM sessions WHERE id = ?"
            row = conn.execute(query, (session_id,)).fetchone()
            return row is not None and row[0] is not None

        return await self._run(work)

    async def rebuild_pending(self, session_id: str) -> Rebuild | None:
        def work(conn: sqlite3.Connection) -> Rebuild | None:
            with _read(conn):
                row = conn.execute(
                    "SELECT rebuild FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None or row[0] is None:
                    return None
                found = conn.execute(SUMMARIZED, (session_id,)).fetchall()
            return Rebuild(session_id, [Message(r, c) for r, c in found], row[0])

        return await self._run(work)

    async def commit_rebuild(self, rebuild: Rebuild, summary: str | None, tokens: int) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                return (
                    conn.execute(
                        "UPDATE sessions SET context = ?, tokens = tokens + ?, rebuild = NULL "
                        "WHERE id = ? AND rebuild = ?",
                        (summary, tokens, rebuild.session_id, rebuild.token),
                    ).rowcount
                    == 1
                )

        return await self._run(work)

    async def sessions_to_rebuild(self) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute(TO_REBUILD).fetchall()]

        return await self._run(work)

    async def unindexed(self, model: str, limit: int) -> list[ToEmbed]:
        def work(conn: sqlite3.Connection) -> list[ToEmbed]:
            with _read(conn):
                rows = conn.execute(UNINDEXED_NONE, (limit,)).fetchall()
                if len(rows) < limit:
                    rows += conn.execute(
                        UNINDEXED_OTHER, (model, model, limit - len(rows))
                    ).fetchall()
            return [ToEmbed(sid, mid, text, str(doc)) for doc, sid, mid, text in rows]

        return await self._run(work)

    async def add_vectors(self, model: str, vectors: Sequence[tuple[ToEmbed, bytes]]) -> int:
        rows = [(int(item.mark), blob) for item, blob in vectors]

        def work(conn: sqlite3.Connection) -> int:
            with self._write(conn):
                replaced = conn.execute(
                    "SELECT count(*) FROM recall WHERE doc IN (SELECT value FROM json_each(?)) "
                    "AND model IS NOT NULL AND model != ?",
                    (json.dumps([doc for doc, _ in rows]), model),
                ).fetchone()[0]
                gen = _next_generation(conn, removed=replaced > 0)
                stored = 0
                for doc, blob in rows:
                    stored += conn.execute(
                        "UPDATE recall SET model = ?, vector = ?, gen = ? "
                        "WHERE doc = ? AND (model IS NULL OR model != ?)",
                        (model, blob, gen, doc, model),
                    ).rowcount
                return stored

        return await self._run(work)

    async def backlog(self, model: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            with _read(conn):
                none = conn.execute(BACKLOG_NONE).fetchone()[0]
                return none + conn.execute(BACKLOG_OTHER, (model, model)).fetchone()[0]

        return await self._run(work)

    async def keyword_search(self, session_id: str | None, text: str, limit: int) -> list[Found]:
        from chatcli.recall.ranking import fts_query

        query = fts_query(text)
        if query is None:
            return []
        if session_id is not None:
            query = f'session : "{_session_token(session_id)}" AND ({query})'

        def work(conn: sqlite3.Connection) -> list[Found]:
            with _read(conn):
                ranked = conn.execute(KEYWORD, (query, limit)).fetchall()
                return _found(conn, ranked)

        return await self._run(work)

    async def nearest(
        self, session_id: str | None, model: str, vector: np.ndarray, limit: int
    ) -> list[Found]:
        if self._vectors is None:
            from chatcli.server.sqlite_vectors import VectorCache

            self._vectors = VectorCache()
        cache = self._vectors

        def work(conn: sqlite3.Connection) -> list[Found]:
            ranked = cache.nearest(conn, session_id, model, vector, limit)
            with _read(conn):
                return _found(conn, ranked)

        return await self._run(work)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


def _claim_idempotency(conn: sqlite3.Connection, claim: Claim, now: float) -> None:
    """Inside the append's transaction: record the key, or raise AlreadyClaimed (the
    transaction then rolls back, so nothing is appended). Prunes a few expired records."""
    conn.execute(
        "DELETE FROM idempotency WHERE key IN "
        "(SELECT key FROM idempotency WHERE expires <= ? LIMIT ?)",
        (now, PRUNE_BATCH),
    )
    held = conn.execute(
        "SELECT session_id, digest FROM idempotency WHERE key = ? AND expires > ?",
        (claim.key, now),
    ).fetchone()
    if held is not None:
        raise AlreadyClaimed(held[0], held[1])
    conn.execute(
        "INSERT OR REPLACE INTO idempotency(key, session_id, digest, expires) VALUES (?, ?, ?, ?)",
        (claim.key, claim.session_id, claim.digest, now + claim.ttl),
    )


def _entry(row: Sequence[Any]) -> Entry:
    seq, public, role, content, created_at, summarized = row
    return Entry(public, role, content, created_at, bool(summarized), seq)


def _number(
    conn: sqlite3.Connection, session_id: str, n: int, now_ms: int, namespace: str | None
) -> list[tuple[int, str]]:
    """The next `n` places and ids of the session, its namespace recorded as the last one
    posted with. The time part never goes backwards, so ids increase in posting order."""
    next_seq, last_ms = conn.execute(
        "SELECT next_seq, last_ms FROM sessions WHERE id = ?", (session_id,)
    ).fetchone()
    ms = max(now_ms, last_ms)
    places = [(next_seq + i + 1, message_id(ms, next_seq + i + 1)) for i in range(n)]
    conn.execute(
        "UPDATE sessions SET next_seq = ?, last_ms = ?, namespace = ? WHERE id = ?",
        (next_seq + n, ms, namespace, session_id),
    )
    return places


def _mark_stale(conn: sqlite3.Connection, session_id: str, token: str) -> None:
    conn.execute("UPDATE sessions SET rebuild = ? WHERE id = ?", (token, session_id))


def _index(conn: sqlite3.Connection, namespace: str | None, session_id: str, now: float) -> None:
    conn.execute(
        "INSERT INTO session_index(namespace, session_id, score) VALUES (?, ?, ?) "
        "ON CONFLICT(namespace, session_id) DO UPDATE SET score = excluded.score",
        (namespace or DEFAULT_NAMESPACE, session_id, now),
    )


def _recall_added(
    conn: sqlite3.Connection, session_id: str, after_seq: int, upto_seq: int | None = None
) -> None:
    """Index rows and keyword entries for the session's entries after `after_seq` (up to
    `upto_seq`), just written in this transaction; their vectors are the indexer's job."""
    last = _last_doc(conn)
    conn.execute(
        "INSERT INTO recall(session_id, message_id) SELECT session_id, id FROM transcript "
        "WHERE session_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
        (session_id, after_seq, upto_seq if upto_seq is not None else 2**62),
    )
    _add_keywords(conn, last)


def _last_doc(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(doc), 0) FROM recall").fetchone()[0]


def _add_keywords(conn: sqlite3.Connection, after_doc: int) -> None:
    conn.execute(
        f"INSERT INTO recall_fts(rowid, text, session) SELECT r.doc, {DOC_TEXT}, {DOC_SESSION} "
        f"FROM recall r {JOIN_TRANSCRIPT} WHERE r.doc > ? ORDER BY r.doc",
        (after_doc,),
    )


def _recall_removed(conn: sqlite3.Connection, where: str, params: Sequence[Any]) -> None:
    """Before the transcript entries go: their keyword entries (a contentless FTS table
    deletes by repeating the indexed values, read here from the entries) and index rows;
    a vector among them makes every cached set of vectors reload (sqlite_vectors)."""
    conn.execute(
        "INSERT INTO recall_fts(recall_fts, rowid, text, session) "
        f"SELECT 'delete', r.doc, {DOC_TEXT}, {DOC_SESSION} FROM recall r {JOIN_TRANSCRIPT} "
        f"WHERE {where}",
        params,
    )
    had_vectors = conn.execute(
        f"SELECT count(*) FROM recall r WHERE {where} AND r.vector IS NOT NULL", params
    ).fetchone()[0]
    conn.execute(
        f"DELETE FROM recall WHERE doc IN (SELECT r.doc FROM recall r WHERE {where})", params
    )
    if had_vectors:
        _next_generation(conn, removed=True)


def _next_generation(conn: sqlite3.Connection, removed: bool) -> int:
    """A new generation of the stored vectors: the vectors written now carry it; `removed`
    says some were removed or replaced, which no incremental reload can see."""
    return conn.execute(
        "UPDATE recall_meta SET gen = gen + 1, removed = CASE WHEN ? THEN gen + 1 "
        "ELSE removed END WHERE id = 0 RETURNING gen",
        (int(removed),),
    ).fetchone()[0]


def _session_token(session_id: str) -> str:
    """DOC_SESSION's value for `session_id` (the tokenizer folds the hex digits' case)."""
    return "s" + session_id.encode("utf-8").hex()


def _found(conn: sqlite3.Connection, ranked: Sequence[tuple[int, float]]) -> list[Found]:
    """The entries of `ranked` (doc, score) pairs, in that order; docs gone are skipped."""
    if not ranked:
        return []
    rows = conn.execute(ENTRIES_OF_DOCS, (json.dumps([doc for doc, _ in ranked]),)).fetchall()
    by_doc = {row[0]: row for row in rows}
    found = []
    for doc, score in ranked:
        row = by_doc.get(doc)
        if row is not None:
            found.append(Found(row[1], _entry(row[2:]), float(score)))
    return found


class _Transaction:
    """BEGIN ... COMMIT, rolled back on any exception; `lock` (if any) is held throughout."""

    def __init__(self, conn: sqlite3.Connection, begin: str, lock: threading.Lock | None) -> None:
        self.conn = conn
        self.begin = begin
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.conn.execute(self.begin)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        return self.conn

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            self.conn.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            if self.lock is not None:
                self.lock.release()


def _write(conn: sqlite3.Connection, lock: threading.Lock | None = None) -> _Transaction:
    """BEGIN IMMEDIATE: the write lock up front, so writers queue instead of deadlocking."""
    return _Transaction(conn, "BEGIN IMMEDIATE", lock)


def _read(conn: sqlite3.Connection) -> _Transaction:
    """A read transaction, so a multi-statement read sees one snapshot."""
    return _Transaction(conn, "BEGIN", None)


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the missing schema steps under the write lock, re-reading the version inside
    it, so two processes starting at once migrate once."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"its schema version {version} is newer than this chatcli knows; upgrade chatcli"
        )
    if version == len(MIGRATIONS):
        return
    with _write(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in MIGRATIONS[version:]:
            for statement in step:
                if isinstance(statement, str):
                    conn.execute(statement)
                else:
                    statement(conn)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
