"""WordLlama's packaged static model behind the Embedder protocol."""

from __future__ import annotations

import numpy as np

from chatcli.recall.wordllama_model import DIM, WordLlamaEmbedder


def test_rows_are_float32_unit_vectors_of_256_dimensions(wordllama: WordLlamaEmbedder) -> None:
    vectors = wordllama.embed(["one message", "another, somewhat longer, message"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_empty_text_embeds_as_zeros_not_nan(wordllama: WordLlamaEmbedder) -> None:
    vectors = wordllama.embed(["", "something"])
    assert not np.isnan(vectors).any()
    assert np.count_nonzero(vectors[0]) == 0


def test_a_paraphrase_is_nearer_than_an_unrelated_message(wordllama: WordLlamaEmbedder) -> None:
    fact, question, unrelated = wordllama.embed(
        [
            "User: my sister Ana moved to Lisbon in March",
            "which city did my sibling relocate to?",
            "User: I bought a new laptop yesterday",
        ]
    )
    assert fact @ question > unrelated @ question


def test_no_texts_give_an_empty_matrix(wordllama: WordLlamaEmbedder) -> None:
    assert wordllama.embed([]).shape == (0, DIM)
