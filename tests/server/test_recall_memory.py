"""The Redis store's in-memory search index: bm25 as SQLite's FTS5 computes it, exact dense
search, and removal."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from chatcli.server.recall_memory import COMPACT_AT, Doc, MemoryIndex

TEXTS = [
    "Human: my sister lives in Lisbon",
    "AI: Lisbon is lovely in spring, and Porto too",
    "Human: my cat is called Tom and Tom likes the mat",
    "AI: the cat sat on the mat",
    "Human: stock prices fell today in Lisbon and Porto",
]


def vec(*values: float) -> bytes:
    v = np.array(values + (0.0,) * (4 - len(values)), dtype=np.float32)
    return (v / np.linalg.norm(v)).astype("<f4").tobytes()


def filled(texts: list[str], session: str = "s") -> MemoryIndex:
    index = MemoryIndex()
    index.add_many([Doc((session, str(i)), text, False) for i, text in enumerate(texts)])
    return index


def fts5_scores(texts: list[str], query: str) -> dict[str, float]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    conn.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", list(enumerate(texts)))
    rows = conn.execute("SELECT rowid, -bm25(t) FROM t WHERE t MATCH ?", (query,)).fetchall()
    return {str(rowid): score for rowid, score in rows}


@pytest.mark.parametrize("terms", [["lisbon"], ["cat", "mat"], ["tom", "porto", "sister"]])
def test_keyword_scores_are_fts5s_bm25(terms: list[str]) -> None:
    found = dict((key[1], score) for key, score in filled(TEXTS).keyword("s", terms, 10))
    expected = fts5_scores(TEXTS, " OR ".join(f'"{t}"' for t in terms))
    assert found.keys() == expected.keys()
    assert all(found[k] == pytest.approx(expected[k], rel=1e-5) for k in expected)


def test_keyword_results_are_best_first_and_cut_at_the_limit() -> None:
    found = filled(TEXTS).keyword("s", ["lisbon", "porto"], 2)
    assert len(found) == 2
    assert found[0][1] >= found[1][1]


def test_keyword_search_keeps_to_the_session() -> None:
    index = filled(TEXTS[:2], "one")
    index.add(Doc(("two", "x"), "Human: Lisbon again", False))
    assert {key[0] for key, _ in index.keyword("one", ["lisbon"], 10)} == {"one"}
    assert {key[0] for key, _ in index.keyword(None, ["lisbon"], 10)} == {"one", "two"}
    assert index.keyword("nobody", ["lisbon"], 10) == []


def test_nearest_is_exact_and_best_first() -> None:
    index = filled(["a", "b", "c"])
    index.set_vectors("m", [("s", "0"), ("s", "1"), ("s", "2")], [vec(1), vec(1, 1), vec(0, 1)])
    query = np.frombuffer(vec(1), dtype="<f4")
    found = index.nearest("s", "m", query, 2)
    assert [key[1] for key, _ in found] == ["0", "1"]
    assert found[0][1] == pytest.approx(1.0)


def test_a_vector_of_another_model_or_dimension_is_never_an_answer() -> None:
    index = filled(["a", "b"])
    index.set_vector(("s", "0"), "other", vec(1))
    index.set_vector(("s", "1"), "m", np.ones(8, "<f4").tobytes())
    assert index.nearest("s", "m", np.frombuffer(vec(1), dtype="<f4"), 10) == []
    assert index.has_vector(("s", "0"), "other") and not index.has_vector(("s", "0"), "m")


def test_a_new_vector_of_another_model_replaces_the_old() -> None:
    index = filled(["a"])
    index.set_vector(("s", "0"), "old", vec(1))
    index.set_vector(("s", "0"), "new", vec(1))
    query = np.frombuffer(vec(1), dtype="<f4")
    assert index.nearest("s", "old", query, 10) == []
    assert [key for key, _ in index.nearest("s", "new", query, 10)] == [("s", "0")]


def test_a_removed_document_is_found_by_neither_search() -> None:
    index = filled(["Human: walrus"])
    index.set_vector(("s", "0"), "m", vec(1))
    index.remove(("s", "0"))
    assert index.keyword("s", ["walrus"], 10) == []
    assert index.nearest("s", "m", np.frombuffer(vec(1), dtype="<f4"), 10) == []
    assert len(index) == 0


def test_compacting_away_the_dead_keeps_the_living_and_their_vectors() -> None:
    index = filled([f"Human: word{i}" for i in range(2 * COMPACT_AT + 10)])
    keep = ("s", str(2 * COMPACT_AT + 5))
    index.set_vector(keep, "m", vec(0, 1))
    for i in range(2 * COMPACT_AT + 4):
        index.remove(("s", str(i)))
    assert len(index.docs) < 2 * COMPACT_AT  # rebuilt without the dead slots
    assert [key for key, _ in index.keyword("s", [f"word{keep[1]}"], 10)] == [keep]
    query = np.frombuffer(vec(0, 1), dtype="<f4")
    assert [key for key, _ in index.nearest("s", "m", query, 1)] == [keep]
