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

SQLite calls block, so they run on a small pool of threads, one connection per thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chatcli.server.errors import StoreUnavailable
from chatcli.server.store import AlreadyClaimed, Claim, Memory, Message, Pending

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
THREADS = 4

MIGRATIONS: list[list[str]] = [
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
READ_QUERIES = {
    "get": (GET_MESSAGES, ("s", 12)),
    "pending": (OLDEST_MESSAGES, ("s", 6)),
    "commit": (COUNT_HANDED_OUT, ("s", 1, 9)),
    "count": (SESSION_COUNT, ("s",)),
    "list": (LIST_SESSIONS, ("", 10, 0)),
    "over": (SESSIONS_OVER, (12,)),
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
        rows = [(session_id, m.role, m.content) for m in messages]
        ns = namespace or DEFAULT_NAMESPACE

        def work(conn: sqlite3.Connection) -> int:
            with self._write(conn):
                if claim is not None:
                    _claim_idempotency(conn, claim, now)
                conn.execute("INSERT OR IGNORE INTO sessions(id) VALUES (?)", (session_id,))
                if rows:
                    conn.executemany(
                        "INSERT INTO messages(session_id, role, content) VALUES (?, ?, ?)", rows
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
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
