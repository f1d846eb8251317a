"""One place that turns settings into the `Embedder` the server indexes and searches with.

The default ('local') is all-MiniLM-L6-v2 run in numpy. On bench/recall.py's labelled set,
whose questions paraphrase the facts they ask about, it is the model whose fusion with keyword
search finds the evidence most often; WordLlama is several times faster to embed with but, being
a bag of static word vectors, is far weaker at paraphrase, which is what the dense half of the
search is for (keyword search already finds the shared words). Its load (about a second) is paid
once at server start, and its throughput is far above the rate at which chat messages arrive.
Model code is imported only when its model is opened, so the CLI never pays for it."""

from __future__ import annotations

from chatcli.config import Settings
from chatcli.recall.embedder import Embedder

DEFAULT_LOCAL = "minilm"


def open_embedder(settings: Settings) -> Embedder:
    """The configured embedder, loaded; raises EmbedderUnavailable (or EmbedderError for an
    embeddings service that cannot answer its probe) with a message naming the fix."""
    kind = settings.server.embedding
    if kind == "local":
        kind = DEFAULT_LOCAL
    if kind == "openai":
        from chatcli.recall.openai_embeddings import OpenAIEmbedder

        llm = settings.llm
        return OpenAIEmbedder.open(
            settings.server.embedding_model, llm.base_url, llm.api_key, llm.timeout
        )
    if kind == "wordllama":
        from chatcli.recall.wordllama_model import WordLlamaEmbedder

        return WordLlamaEmbedder.load()
    from chatcli.recall.minilm import MiniLMEmbedder

    return MiniLMEmbedder.load()
