"""server.embedding picks the model; unknown names are refused like any other setting."""

from __future__ import annotations

import pytest

from chatcli.config import build_settings, env_layer
from chatcli.errors import ConfigError
from chatcli.recall.minilm import MiniLMEmbedder
from chatcli.recall.open import open_embedder
from chatcli.recall.wordllama_model import WordLlamaEmbedder


def test_the_default_is_the_local_model() -> None:
    assert build_settings({}).server.embedding == "local"


def test_the_environment_sets_the_model() -> None:
    layer = env_layer({"CHATCLI_SERVER_EMBEDDING": "wordllama"})
    assert build_settings(layer).server.embedding == "wordllama"


def test_an_unknown_model_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError, match="must be one of local, minilm, wordllama, openai"):
        build_settings({"server": {"embedding": "bert-large"}})


def test_local_opens_minilm(minilm: MiniLMEmbedder) -> None:
    assert open_embedder(build_settings({})).name == minilm.name


def test_wordllama_opens_wordllama(wordllama: WordLlamaEmbedder) -> None:
    settings = build_settings({"server": {"embedding": "wordllama"}})
    assert open_embedder(settings).name == wordllama.name
