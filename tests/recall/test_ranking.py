"""The pure rules of /retrieval's ranking."""

from __future__ import annotations

import random
import sqlite3
import string

import numpy as np
import pytest

from chatcli.recall.ranking import (
    MAX_QUERY_TERMS,
    Fusion,
    best_fused_score,
    fts_query,
    hybrid,
    indexed_text,
    reciprocal_rank_fusion,
    top_k_cosine,
)

NASTY = [
    'what did "she say about pizza',
    "cats AND OR NOT dogs",
    "NEAR(a b, 3)",
    "content: secret",
    "-minus +plus ^caret *star",
    "(unbalanced",
    "it's the user's cat's name",
    "emoji 🎉 and ümlauts and 中文",
    "col:umn{x} [y] \\z 'q'",
    "snake_case_word",
]


def test_a_message_is_indexed_as_role_colon_content() -> None:
    assert indexed_text("Human", "my sister moved") == "Human: my sister moved"


def test_the_query_ors_the_quoted_distinct_words() -> None:
    assert fts_query("Lisbon lisbon sister") == '"lisbon" OR "sister"'


def test_the_query_drops_stopwords() -> None:
    assert fts_query("which city did my sister move to?") == '"city" OR "sister" OR "move"'


def test_a_question_of_stopwords_alone_has_no_query() -> None:
    assert fts_query("what did you say to me?") is None


def test_punctuation_alone_has_no_query() -> None:
    assert fts_query(' "(*)" -- ') is None


def test_the_query_keeps_at_most_the_first_distinct_words() -> None:
    words = [f"word{i}" for i in range(MAX_QUERY_TERMS + 10)]
    query = fts_query(" ".join(words))
    assert query is not None
    assert query.split(" OR ") == [f'"{w}"' for w in words[:MAX_QUERY_TERMS]]


@pytest.fixture
def fts() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE m USING fts5(body, tokenize='porter unicode61')")
    db.executemany(
        "INSERT INTO m(body) VALUES (?)",
        [(indexed_text("Human", text),) for text in [*NASTY, "my sister moved to Lisbon"]],
    )
    return db


@pytest.mark.parametrize("text", NASTY)
def test_free_text_never_makes_an_fts5_syntax_error(fts: sqlite3.Connection, text: str) -> None:
    query = fts_query(text)
    assert query is not None
    found = fts.execute("SELECT body FROM m WHERE m MATCH ?", (query,)).fetchall()
    assert (indexed_text("Human", text),) in found


def test_random_printable_text_never_makes_an_fts5_syntax_error(fts: sqlite3.Connection) -> None:
    rng = random.Random(11)
    alphabet = string.printable + "éß中🎉“”«»"
    for _ in range(300):
        query = fts_query("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
        if query is not None:
            fts.execute("SELECT rowid FROM m WHERE m MATCH ?", (query,)).fetchall()


def test_a_stemming_table_matches_another_form_of_the_word(fts: sqlite3.Connection) -> None:
    query = fts_query("when did she move?")
    rows = fts.execute("SELECT body FROM m WHERE m MATCH ?", (query,)).fetchall()
    assert rows == [("Human: my sister moved to Lisbon",)]


def test_top_k_cosine_returns_the_nearest_rows_nearest_first() -> None:
    matrix = np.eye(4, dtype=np.float32)
    query = np.asarray([0.1, 0.9, 0.0, 0.4], dtype=np.float32)
    assert [i for i, _ in top_k_cosine(matrix, query, 2)] == [1, 3]


def test_top_k_cosine_gives_the_similarities() -> None:
    matrix = np.eye(3, dtype=np.float32)
    result = top_k_cosine(matrix, np.asarray([0.6, 0.8, 0.0], dtype=np.float32), 2)
    assert result == [(1, pytest.approx(0.8)), (0, pytest.approx(0.6))]


def test_top_k_cosine_breaks_ties_by_row_order() -> None:
    matrix = np.ones((5, 2), dtype=np.float32) / np.sqrt(2)
    assert [i for i, _ in top_k_cosine(matrix, matrix[0], 3)] == [0, 1, 2]


def test_top_k_cosine_with_k_past_the_rows_returns_them_all() -> None:
    matrix = np.eye(3, dtype=np.float32)
    assert len(top_k_cosine(matrix, matrix[2], 10)) == 3


def test_top_k_cosine_of_an_empty_matrix_is_empty() -> None:
    assert top_k_cosine(np.zeros((0, 8), dtype=np.float32), np.ones(8), 10) == []


def test_top_k_cosine_matches_a_full_sort() -> None:
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    expected = np.argsort(-(matrix @ query), kind="stable")[:25].tolist()
    assert [i for i, _ in top_k_cosine(matrix, query, 25)] == expected


def test_fusion_adds_reciprocal_ranks_over_the_rankings() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], [1.0, 1.0], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_fusion_puts_an_item_in_both_rankings_above_one_in_a_single_ranking() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["x", "y", "c"]], [1.0, 1.0], k=60)
    assert fused[0][0] == "c"


def test_fusion_weights_scale_each_ranking() -> None:
    fused = reciprocal_rank_fusion([["a"], ["b"]], [1.0, 2.0], k=60)
    assert [item for item, _ in fused] == ["b", "a"]


def test_fusion_breaks_ties_by_first_appearance() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["c", "d"]], [1.0, 1.0], k=60)
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]


def test_fusion_needs_one_weight_per_ranking() -> None:
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([["a"], ["b"]], [1.0], k=60)


def test_first_in_both_rankings_is_distance_zero() -> None:
    assert hybrid(["a", "b"], ["a", "c"])[0].dist == pytest.approx(0.0)


def test_distance_grows_down_the_answer() -> None:
    dists = [r.dist for r in hybrid(["a", "b", "c", "d"], ["b", "e", "a"])]
    assert dists == sorted(dists)
    assert all(0.0 <= d < 1.0 for d in dists)


def test_first_in_one_ranking_alone_is_half_the_scale_with_equal_weights() -> None:
    assert hybrid(["a"], [])[0].dist == pytest.approx(0.5)


def test_the_best_fused_score_is_first_in_every_ranking() -> None:
    assert best_fused_score([1.0, 2.0], k=60) == pytest.approx(3 / 61)


def test_hybrid_answers_at_most_the_limit() -> None:
    keyword = [f"k{i}" for i in range(30)]
    dense = [f"d{i}" for i in range(30)]
    assert len(hybrid(keyword, dense, Fusion(limit=10))) == 10


def test_hybrid_takes_only_depth_candidates_from_each_ranking() -> None:
    answer = hybrid(["a", "b", "c"], ["x", "y", "z"], Fusion(depth=1))
    assert {r.id for r in answer} == {"a", "x"}


def test_hybrid_with_neither_ranking_is_empty() -> None:
    assert hybrid([], []) == []
