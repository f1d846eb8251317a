"""Embeddings from an OpenAI-compatible /v1/embeddings, against a real loopback server."""

from __future__ import annotations

import numpy as np
import pytest

from chatcli.config import LLMSettings, ServerSettings, Settings
from chatcli.recall import openai_embeddings
from chatcli.recall.errors import EmbedderError
from chatcli.recall.open import open_embedder
from chatcli.recall.openai_embeddings import OpenAIEmbedder
from tests.support.procs import free_port
from tests.support.scripted_openai import EMBEDDING_DIM, ScriptedOpenAI, scripted_embedding


def test_rows_come_back_in_input_order_as_unit_vectors(scripted_llm: ScriptedOpenAI) -> None:
    texts = ["User: my sister lives in Lisbon", "Assistant: noted", "User: what about tea?"]
    vectors = OpenAIEmbedder.open("emb", scripted_llm.base_url).embed(texts)
    expected = np.asarray([scripted_embedding(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.dtype == np.float32
    assert np.allclose(vectors, expected, atol=1e-6)


def test_the_dimension_is_learnt_when_it_opens(scripted_llm: ScriptedOpenAI) -> None:
    embedder = OpenAIEmbedder.open("emb", scripted_llm.base_url)
    assert embedder.dim == EMBEDDING_DIM
    assert len(scripted_llm.requests) == 1


def test_the_model_and_the_key_are_sent(scripted_llm: ScriptedOpenAI) -> None:
    OpenAIEmbedder.open("nomic-embed-text", scripted_llm.base_url, api_key="sk-test")
    request = scripted_llm.requests[0]
    assert request.path == "/v1/embeddings"
    assert request.body["model"] == "nomic-embed-text"
    assert request.headers["Authorization"] == "Bearer sk-test"


def test_many_texts_are_sent_in_batches(
    scripted_llm: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_embeddings, "BATCH", 4)
    embedder = OpenAIEmbedder.open("emb", scripted_llm.base_url)
    vectors = embedder.embed([f"message {i}" for i in range(10)])
    assert vectors.shape == (10, EMBEDDING_DIM)
    assert [len(r.body["input"]) for r in scripted_llm.requests[1:]] == [4, 4, 2]


def test_an_empty_text_is_embedded_not_refused(scripted_llm: ScriptedOpenAI) -> None:
    vectors = OpenAIEmbedder.open("emb", scripted_llm.base_url).embed(["", "hello"])
    assert vectors.shape == (2, EMBEDDING_DIM)


def test_a_failing_service_is_an_embedder_error_naming_it(scripted_llm: ScriptedOpenAI) -> None:
    embedder = OpenAIEmbedder.open("emb", scripted_llm.base_url)
    scripted_llm.fail_next = 1
    with pytest.raises(EmbedderError, match="answered 500: scripted failure"):
        embedder.embed(["hello"])


def test_a_vector_per_token_is_refused_naming_pooling(scripted_llm: ScriptedOpenAI) -> None:
    scripted_llm.embed_per_token = True
    with pytest.raises(EmbedderError, match="a vector per token, not per text"):
        OpenAIEmbedder.open("gemma", scripted_llm.base_url)


def test_an_unreachable_service_is_an_embedder_error_naming_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbedderError, match=r"cannot reach .* check llm.base_url"):
        OpenAIEmbedder.open("emb", url, timeout=5)


def test_settings_choose_it_with_the_llm_base_url(scripted_llm: ScriptedOpenAI) -> None:
    settings = Settings(
        llm=LLMSettings(base_url=scripted_llm.base_url, api_key="sk-x"),
        server=ServerSettings(embedding="openai", embedding_model="text-embedding-3-small"),
    )
    embedder = open_embedder(settings)
    assert embedder.name == "openai:text-embedding-3-small"
    assert embedder.embed(["hi"]).shape == (1, EMBEDDING_DIM)
