"""An in-process search index over one store's recall documents: bm25 and exact dense search.

Plain Redis and Valkey have no full-text or vector search, so the Redis store holds its
documents (the transcript's texts, the vectors in Motörhead's `motorhead:*` hashes) in Redis
and searches them here, in the server process, kept current by redis_recall.py. Nothing in
this module talks to Redis.

Keyword ranking is FTS5's bm25 (k1 = 1.2, b = 0.75, the same idf, statistics over every
document as SQLite's single FTS table has them) over ranking.text_terms, so the two stores rank
alike. Documents are slots that are never reused: removing one only marks it dead, and the
postings are rebuilt once the dead outnumber the living.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np

from chatcli.recall.ranking import text_terms, top_k_cosine

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6
"""FTS5 clamps an idf that would be zero or negative (a word in over half the documents)."""
COMPACT_AT = 4096
"""Dead slots tolerated before they may trigger a rebuild of the postings."""

Key = tuple[str, str]
"""(session id, document id): a transcript message's id, or a Motörhead hash's own id."""


@dataclass
class Doc:
    key: Key
    text: str
    """"Role: content", what is indexed."""
    foreign: bool
    """Written by Motörhead, not a transcript message."""


class _Column:
    """A growable numpy column, one value per slot."""

    def __init__(self, dtype: type, fill: float = 0) -> None:
        self.data = np.full(64, fill, dtype=dtype)
        self.fill = fill

    def ensure(self, size: int) -> None:
        if size > len(self.data):
            grown = np.full(max(size, 2 * len(self.data)), self.fill, dtype=self.data.dtype)
            grown[: len(self.data)] = self.data
            self.data = grown


class MemoryIndex:
    """Not thread-safe: the Redis store uses it from its event loop only."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.docs: list[Doc | None] = []
        self.slot_of: dict[Key, int] = {}
        self.sessions: dict[str, int] = {}
        self.session_slots: dict[str, set[int]] = {}
        self._session = _Column(np.int32, -1)
        self._length = _Column(np.float32)
        self._alive = _Column(np.bool_, False)
        self._postings: dict[str, tuple[array, array]] = {}
        self._vectors: dict[str, tuple[np.ndarray, _Column]] = {}
        self._total_length = 0.0
        self._living = 0
        self._dead = 0

    def __len__(self) -> int:
        return self._living

    def has(self, key: Key) -> bool:
        return key in self.slot_of

    def add(self, doc: Doc) -> None:
        """Index `doc`, replacing a document of the same key (and dropping its vectors)."""
        self.add_many([doc])

    def add_many(self, docs: list[Doc]) -> None:
        """`add` for many: the columns grow once, and the per-token work stays in C."""
        docs = list({doc.key: doc for doc in docs}.values())
        for doc in docs:
            if doc.key in self.slot_of:
                self.remove(doc.key)
        start = len(self.docs)
        end = start + len(docs)
        for column in (self._session, self._length, self._alive):
            column.ensure(end)
        numbers: list[int] = []
        lengths: list[int] = []
        term_ids: dict[str, int] = {}
        flat_ids: list[int] = []
        flat_slots: list[int] = []
        for slot, doc in enumerate(docs, start):
            self.docs.append(doc)
            self.slot_of[doc.key] = slot
            session = doc.key[0]
            number = self.sessions.get(session)
            if number is None:
                number = self.sessions[session] = len(self.sessions)
                self.session_slots[session] = set()
            self.session_slots[session].add(slot)
            terms = text_terms(doc.text)
            numbers.append(number)
            lengths.append(len(terms))
            flat_ids += [term_ids.setdefault(term, len(term_ids)) for term in terms]
            flat_slots += [slot] * len(terms)
        self._post(list(term_ids), flat_ids, flat_slots)
        self._session.data[start:end] = numbers
        self._length.data[start:end] = lengths
        self._alive.data[start:end] = True
        self._total_length += sum(lengths)
        self._living += len(docs)

    def _post(self, terms: list[str], ids: list[int], slots: list[int]) -> None:
        """Append one posting (slot, count) per distinct (term id, slot) pair, counted by
        numpy: a bulk load (a 100k-message session) spends its time in one sort rather than
        in a Counter per message."""
        if not ids:
            return
        pairs = (np.array(ids, np.int64) << 32) | np.array(slots, np.int64)
        unique, counts = np.unique(pairs, return_counts=True)
        owners = unique >> 32
        posted = (unique & 0xFFFFFFFF).astype(np.int32)
        tfs = counts.astype(np.int32)
        bounds = np.flatnonzero(np.diff(owners)) + 1
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(unique)]
        postings = self._postings
        for first, last in zip(starts, ends, strict=True):
            term = terms[int(owners[first])]
            held = postings.get(term)
            if held is None:
                held = postings[term] = (array("i"), array("i"))
            held[0].frombytes(posted[first:last].tobytes())
            held[1].frombytes(tfs[first:last].tobytes())

    def has_vector(self, key: Key, model: str) -> bool:
        slot = self.slot_of.get(key)
        held = self._vectors.get(model)
        return slot is not None and held is not None and bool(held[1].data[slot : slot + 1].any())

    def set_vector(self, key: Key, model: str, vector: bytes) -> None:
        self.set_vectors(model, [key], [vector])

    def set_vectors(self, model: str, keys: list[Key], vectors: list[bytes]) -> None:
        """Each document's `model` vector (float32 little-endian bytes); documents not held,
        and vectors of another length than the first, are skipped."""
        pairs = [(self.slot_of.get(k), v) for k, v in zip(keys, vectors, strict=True)]
        pairs = [(slot, v) for slot, v in pairs if slot is not None]
        if not pairs or len(pairs[0][1]) % 4:
            return
        size = len(pairs[0][1])
        pairs = [(slot, v) for slot, v in pairs if len(v) == size]
        slots = np.array([slot for slot, _ in pairs], dtype=np.int64)
        rows = np.frombuffer(b"".join(v for _, v in pairs), dtype="<f4").reshape(len(pairs), -1)
        for other, (_, has) in self._vectors.items():
            if other != model:
                has.ensure(int(slots.max()) + 1)
                has.data[slots] = False
        held = self._vectors.get(model)
        if held is None or held[0].shape[1] != rows.shape[1]:
            held = (np.zeros((64, rows.shape[1]), np.float32), _Column(np.bool_, False))
        matrix, has = held
        need = int(slots.max()) + 1
        if need > len(matrix):
            # to every slot at once: a bulk load then copies the matrix once, not log(n) times
            rows_now = max(need, 2 * len(matrix), len(self.docs))
            grown = np.zeros((rows_now, matrix.shape[1]), np.float32)
            grown[: len(matrix)] = matrix
            matrix = grown
        matrix[slots] = rows
        has.ensure(need)
        has.data[slots] = True
        self._vectors[model] = (matrix, has)

    def remove(self, key: Key) -> None:
        slot = self.slot_of.pop(key, None)
        if slot is None:
            return
        self.docs[slot] = None
        self.session_slots[key[0]].discard(slot)
        self._alive.data[slot] = False
        self._total_length -= float(self._length.data[slot])
        self._living -= 1
        self._dead += 1
        for _, has in self._vectors.values():
            if slot < len(has.data):
                has.data[slot] = False
        if self._dead > COMPACT_AT and self._dead > self._living:
            self._compact()

    def remove_session(self, session_id: str) -> None:
        for slot in list(self.session_slots.get(session_id, ())):
            doc = self.docs[slot]
            if doc is not None:
                self.remove(doc.key)

    def keys_of(self, session_id: str) -> list[Key]:
        return [
            doc.key
            for slot in self.session_slots.get(session_id, ())
            if (doc := self.docs[slot]) is not None
        ]

    def _compact(self) -> None:
        """Rebuild without the dead slots, keeping every vector."""
        living = [doc for doc in self.docs if doc is not None]
        vectors = [
            (model, doc.key, matrix[slot].tobytes())
            for model, (matrix, has) in self._vectors.items()
            for slot, doc in enumerate(self.docs)
            if doc is not None and slot < len(has.data) and has.data[slot]
        ]
        self._reset()
        for doc in living:
            self.add(doc)
        for model, key, row in vectors:
            self.set_vector(key, model, row)

    def _mask(self, session_id: str | None) -> np.ndarray | None:
        """Which slots are candidates: living ones (of the session); None if none can be."""
        size = len(self.docs)
        alive = self._alive.data[:size]
        if session_id is None:
            return alive
        number = self.sessions.get(session_id)
        if number is None:
            return None
        return alive & (self._session.data[:size] == number)

    def keyword(
        self, session_id: str | None, terms: list[str], limit: int
    ) -> list[tuple[Key, float]]:
        """The `limit` best documents by bm25 over `terms` (any of them), best first, with
        their score (larger is better, FTS5's -bm25)."""
        mask = self._mask(session_id)
        if mask is None or limit <= 0 or self._living == 0:
            return []
        size = len(self.docs)
        alive = self._alive.data[:size]
        lengths = self._length.data[:size]
        average = max(self._total_length / self._living, 1e-9)
        scores = np.zeros(size, np.float64)
        for term in terms:
            held = self._postings.get(term)
            if held is None:
                continue
            slots = np.array(held[0], dtype=np.int64)
            tfs = np.array(held[1], dtype=np.float64)
            living = alive[slots]
            count = int(living.sum())
            if count == 0:
                continue
            idf = math.log((self._living - count + 0.5) / (count + 0.5))
            idf = idf if idf > 0 else MIN_IDF
            keep = living & mask[slots]
            slots, tfs = slots[keep], tfs[keep]
            norm = K1 * (1 - B + B * lengths[slots] / average)
            scores[slots] += idf * tfs * (K1 + 1) / (tfs + norm)
        found = np.flatnonzero(scores)
        if len(found) == 0:
            return []
        if len(found) > limit:
            found = found[np.argpartition(-scores[found], limit - 1)[:limit]]
        found = found[np.lexsort((found, -scores[found]))]
        return [(self._key(slot), float(scores[slot])) for slot in found]

    def nearest(
        self, session_id: str | None, model: str, query: np.ndarray, limit: int
    ) -> list[tuple[Key, float]]:
        """The `limit` documents whose `model` vectors have the largest dot product with
        `query`, exactly, best first."""
        held = self._vectors.get(model)
        mask = self._mask(session_id)
        if held is None or mask is None or held[0].shape[1] != query.shape[0]:
            return []
        matrix, has = held
        has.ensure(len(mask))
        candidates = np.flatnonzero(mask & has.data[: len(mask)])
        if len(candidates) == 0:
            return []
        if len(candidates) * 4 < len(mask):
            rows = matrix[candidates]
            ranked = top_k_cosine(rows, query, limit)
            return [(self._key(int(candidates[i])), s) for i, s in ranked]
        scores = matrix[: len(mask)] @ query.astype(np.float32, copy=False)
        sub = scores[candidates]
        k = min(limit, len(sub))
        part = np.argpartition(-sub, k - 1)[:k] if k < len(sub) else np.arange(len(sub))
        order = part[np.lexsort((part, -sub[part]))]
        return [(self._key(int(candidates[i])), float(sub[i])) for i in order]

    def _key(self, slot: int) -> Key:
        doc = self.docs[slot]
        assert doc is not None
        return doc.key
