"""One place that turns settings into the `Embedder` the server indexes and searches with.

The default ('local') is all-MiniLM-L6-v2 run in numpy, chosen on bench/recall.py's figures
(288 questions over 3,913 messages; recall@10, one run on this 2-core machine):

    keyword (FTS5 bm25)             64.9%
    dense MiniLM / WordLlama        88.5% / 77.8%   (paraphrased questions: 84.4% / 47.9%)
    fusion with MiniLM / WordLlama  88.2% / 76.4%   (ranking.DENSE_FIRST: 91.3% / 78.1%,
                                                     and 95.1% / 79.2% with chunking.py)

The dense half of the search is there for questions that use other words than the fact, and
that is where the static WordLlama (a mean of per-token vectors, word-order blind) is weakest:
fused with keyword search it adds 11.5 points, MiniLM 23 (26 dense-first). WordLlama embeds
about 15,000 messages a second to MiniLM's 30-100 here, but a chat server indexes a message
as it arrives and one question per /retrieval (10-50 ms), so MiniLM's cost is the one worth
paying; its load (about a second) is paid once at start. WordLlama stays a choice for a
server that must backfill a very large history quickly. Model code is imported only when its
model is opened, so the CLI never pays for it."""

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
