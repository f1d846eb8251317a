"""The packaged models, loaded once for the run: each takes about a second to load."""

from __future__ import annotations

import pytest

from chatcli.recall.minilm import MiniLMEmbedder
from chatcli.recall.wordllama_model import WordLlamaEmbedder


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder.load()


@pytest.fixture(scope="session")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder.load()
