"""Exact dense search over the SQLite store's vectors, from memory.

Reading 100k vectors out of SQLite takes a quarter of a second, their dot products with a
query a few milliseconds; so each process keeps the vectors of the sessions it searched (and
of all sessions, for a search across them) as one matrix, and checks it against the file on
every search, so that several processes on one file stay exact without talking to each
other. `recall_meta.gen` grows with every write of vectors, each vector row carries the
generation it was written in, and `recall_meta.removed` is the last generation in which any
vector was removed or replaced: a matrix at generation G is current when the file is at G,
grows by the rows written after G when nothing was removed since, and is read afresh
otherwise (a deletion anywhere reloads every matrix: deletions are rare, postings are not).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from chatcli.recall.ranking import top_k_cosine

CAPACITY = 8
"""Matrices kept (sessions, and 'all sessions'), least recently searched dropped first."""

# A unary + keeps SQLite from choosing that term's index: a session's vectors are read by the
# session's index (not by scanning every vector of the model), new ones by the generation's.
SESSION_VECTORS = (
    "SELECT doc, vector FROM recall WHERE session_id = ? AND +model = ? AND vector IS NOT NULL"
)
ALL_VECTORS = "SELECT doc, vector FROM recall WHERE model = ? AND vector IS NOT NULL"
NEW_SESSION_VECTORS = (
    "SELECT doc, vector FROM recall WHERE gen > ? AND vector IS NOT NULL "
    "AND +session_id = ? AND +model = ?"
)
NEW_VECTORS = "SELECT doc, vector FROM recall WHERE gen > ? AND vector IS NOT NULL AND +model = ?"
VECTOR_QUERIES = {
    "session_vectors": (SESSION_VECTORS, ("s", "m")),
    "all_vectors": (ALL_VECTORS, ("m",)),
    "new_session_vectors": (NEW_SESSION_VECTORS, (1, "s", "m")),
    "new_vectors": (NEW_VECTORS, (1, "m")),
}
"""Every search runs one of these: each must search an index (tests/server/test_sqlite_store)."""


@dataclass
class _Vectors:
    gen: int
    docs: np.ndarray
    """int64, the `recall.doc` of each row of `matrix`."""
    matrix: np.ndarray
    """float32 (capacity, dim); rows past `size` are room to grow into."""
    size: int

    def extend(self, docs: list[int], rows: np.ndarray) -> None:
        need = self.size + len(docs)
        if need > len(self.docs):
            room = max(need, 2 * len(self.docs), 64)
            self.docs = _grown(self.docs, room)
            self.matrix = _grown(self.matrix, room, rows.shape[1])
        self.docs[self.size : need] = docs
        self.matrix[self.size : need] = rows
        self.size = need


def _grown(array: np.ndarray, rows: int, dim: int | None = None) -> np.ndarray:
    shape = (rows,) if dim is None else (rows, dim)
    grown = np.zeros(shape, dtype=array.dtype)
    if len(array):
        grown[: len(array)] = array
    return grown


class VectorCache:
    """The matrices of one store; safe to use from its threads at once."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._held: OrderedDict[tuple[str | None, str], _Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def nearest(
        self,
        conn: sqlite3.Connection,
        session_id: str | None,
        model: str,
        query: np.ndarray,
        limit: int,
    ) -> list[tuple[int, float]]:
        """The `limit` docs whose vectors have the largest dot product with `query`, best
        first, with it."""
        docs, matrix = self._current(conn, session_id, model)
        if len(docs) == 0:
            return []
        if matrix.shape[1] != query.shape[0]:
            return []
        return [(int(docs[r]), s) for r, s in top_k_cosine(matrix, query, limit)]

    def _current(
        self, conn: sqlite3.Connection, session_id: str | None, model: str
    ) -> tuple[np.ndarray, np.ndarray]:
        key = (session_id, model)
        with self._lock:
            conn.execute("BEGIN")
            try:
                gen, removed = conn.execute(
                    "SELECT gen, removed FROM recall_meta WHERE id = 0"
                ).fetchone()
                held = self._held.get(key)
                if held is None or removed > held.gen:
                    held = _Vectors(gen, np.zeros(0, np.int64), np.zeros((0, 0), np.float32), 0)
                    docs, rows = _read(conn, session_id, model, None)
                    if docs:
                        held.extend(docs, rows)
                elif held.gen < gen:
                    docs, rows = _read(conn, session_id, model, held.gen)
                    if docs:
                        held.extend(docs, rows)
                    held.gen = gen
            finally:
                conn.execute("COMMIT")
            self._held[key] = held
            self._held.move_to_end(key)
            while len(self._held) > self.capacity:
                self._held.popitem(last=False)
            return held.docs[: held.size], held.matrix[: held.size]


def _read(
    conn: sqlite3.Connection, session_id: str | None, model: str, after_gen: int | None
) -> tuple[list[int], np.ndarray]:
    """The docs and vectors of `model` (of the session, or of all), all of them or only those
    written after generation `after_gen`."""
    if after_gen is None:
        if session_id is None:
            rows = conn.execute(ALL_VECTORS, (model,)).fetchall()
        else:
            rows = conn.execute(SESSION_VECTORS, (session_id, model)).fetchall()
    elif session_id is None:
        rows = conn.execute(NEW_VECTORS, (after_gen, model)).fetchall()
    else:
        rows = conn.execute(NEW_SESSION_VECTORS, (after_gen, session_id, model)).fetchall()
    if not rows:
        return [], np.zeros((0, 0), np.float32)
    dim = len(rows[0][1]) // 4
    blobs = [blob for _, blob in rows if len(blob) == dim * 4]
    docs = [doc for doc, blob in rows if len(blob) == dim * 4]
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(docs), dim)
    return docs, matrix
