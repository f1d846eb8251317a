"""The ranking rules of /retrieval, as plain functions: what text a message is indexed by, how
free text becomes a safe FTS5 query, exact top-k cosine, and the fusion of a keyword ranking
with a dense one into Motörhead's `dist`.

Why fuse ranks rather than scores: bm25 and cosine live on unrelated scales (bm25 is unbounded
and depends on the corpus), so adding them needs a calibration that no conversation provides.
Reciprocal-rank fusion (Cormack et al., 2009) only needs each list's order: a message scores
sum(weight / (k + rank)) over the rankings it appears in, so being near the top of either list
counts, and being in both counts most. bench/recall.py measures the defaults below (`Fusion`)."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Id = TypeVar("Id", bound=Hashable)


def indexed_text(role: str, content: str) -> str:
    """What a message is indexed and embedded as: Motörhead's own "Role: content" line. The
    speaker is part of the text because a question so often asks about them ("what did the
    assistant suggest?", "what did I say about..."), and a message alone does not say who
    spoke it."""
    return f"{role}: {content}"


_STOPWORD_LIST = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves ever tell remind say said told anything something know"""

STOPWORDS = frozenset(_STOPWORD_LIST.split())
"""Words that match nearly every message, so they only add noise to bm25's OR: English
function words, and the verbs of asking about the past ("tell me", "did I say")."""

MAX_QUERY_TERMS = 32
"""A bound on the work one query makes: a pasted page of text searches by its first 32
distinct words."""

_TOKEN = re.compile(r"[^\W_]+")
"""A run of letters and digits: what FTS5's unicode61 tokenizer makes a token (underscore and
every punctuation mark separate tokens)."""


def text_terms(text: str) -> list[str]:
    """The tokens a document is indexed by, in order: FTS5 unicode61's tokens, lower case.
    Stores without FTS5 (Redis) index with this, so their bm25 sees the same terms."""
    return _TOKEN.findall(text.lower())


def query_terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """The distinct searchable words of free text, in order, at most MAX_QUERY_TERMS."""
    seen: dict[str, None] = {}
    for token in text_terms(text):
        if token not in stopwords and token not in seen:
            seen[token] = None
            if len(seen) == MAX_QUERY_TERMS:
                break
    return list(seen)


def fts_query(text: str, stopwords: frozenset[str] = STOPWORDS) -> str | None:
    """An FTS5 MATCH expression for free text: its distinct words, each quoted as a string
    (so no word can be an operator, a column filter or a syntax error: AND, NEAR, "col:",
    unbalanced quotes and parentheses are all plain words or separators here), joined with
    OR so a message matching any word is a candidate and bm25 orders them.

    None when nothing searchable is left (only stopwords or punctuation): the caller skips
    the keyword search rather than sending FTS5 an empty query, which is an error."""
    terms = query_terms(text, stopwords)
    if not terms:
        return None
    return " OR ".join(f'"{token}"' for token in terms)


def top_k_cosine(matrix: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k rows nearest the query as (row index, cosine), nearest first, ties by index.

    Rows and query are unit vectors (the Embedder's promise), so a dot product is the cosine.
    Exact, not approximate: one matrix-vector product is a few milliseconds at a hundred
    thousand messages, and argpartition keeps the sort to the k it returns."""
    count = matrix.shape[0]
    if k <= 0 or count == 0:
        return []
    similarities = matrix @ query.astype(matrix.dtype, copy=False)
    candidates = np.argpartition(-similarities, k - 1)[:k] if k < count else np.arange(count)
    order = np.lexsort((candidates, -similarities[candidates]))
    return [(int(candidates[i]), float(similarities[candidates[i]])) for i in order]


@dataclass(frozen=True)
class Fusion:
    """How two rankings are fused. The defaults are textbook RRF (k=60, equal weights): the
    keyword ranking's first hits always reach the answer (a search for a rare word finds the
    messages that contain it), and `dist` has a fixed meaning: below 0.5 both rankings found
    the message, above it only one did (chatcli.prompt cuts recall where it jumps).

    bench/recall.py measures it, and DENSE_FIRST beside it."""

    k: int = 60
    """RRF's damping constant: larger flattens the difference between ranks 1 and 10."""
    keyword_weight: float = 1.0
    dense_weight: float = 1.0
    depth: int = 50
    """Candidates taken from each ranking before fusing."""
    limit: int = 10
    """Results returned: Motörhead answers at most 10."""


DENSE_FIRST = Fusion(k=10, dense_weight=2.0, depth=20)
"""The best fusion of bench/recall.py's sweep, chosen on half its sessions and measured on the
other half: with all-MiniLM-L6-v2 chunked (chatcli.recall.chunking) 93.8% of the evidence in
the top 10, against 87.5% for the default and 93.1% for the dense ranking alone; unchunked
87.5% against 86.1% and 84.7%. Equal weights let keyword's best matches, which for a
paraphrased question are messages that merely share its words, push dense answers out of ten
places. But here the dense ranking's top 12 outrank keyword's first hit, so a message only
keyword finds (a rare name the model does not place) never reaches a full answer, and `dist`
loses the 0.5 boundary: not the default until /search and the prompt's cut are measured with
it."""


@dataclass(frozen=True)
class Ranked(Generic[Id]):
    id: Id
    dist: float
    """Smaller is nearer, as in Motörhead (whose dist is Redis' cosine distance). Here: 1
    minus the message's fused score as a fraction of the best score any message can get (first
    in every ranking). 0 is first in both; a message found by one ranking alone is at least
    1 - weight/total; the scale is the same for every query, so a client may cut at a
    threshold. It is not a cosine distance."""


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Id]], weights: Sequence[float], k: int
) -> list[tuple[Id, float]]:
    """Every id in any ranking with its fused score, best first. Ties go to the id seen
    first (the earlier ranking, the better rank), so the order is deterministic."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    scores: dict[Id, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    first_seen = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))


def best_fused_score(weights: Sequence[float], k: int) -> float:
    """What a message first in every ranking scores: the top of the `dist` scale."""
    return sum(weights) / (k + 1)


def hybrid(
    keyword: Sequence[Id], dense: Sequence[Id], fusion: Fusion = Fusion()
) -> list[Ranked[Id]]:
    """The answer of /retrieval from its two rankings (each best first, either may be empty):
    the top `fusion.limit` by reciprocal-rank fusion, with their `dist`."""
    weights = (fusion.keyword_weight, fusion.dense_weight)
    fused = reciprocal_rank_fusion(
        (keyword[: fusion.depth], dense[: fusion.depth]), weights, fusion.k
    )
    best = best_fused_score(weights, fusion.k)
    return [Ranked(item, 1.0 - score / best) for item, score in fused[: fusion.limit]]


RRF_K = 60
"""Reciprocal rank fusion's constant (Cormack et al.): rank r scores 1 / (RRF_K + r)."""


def document_text(role: str, content: str) -> str:
    """What a message is indexed as (h-recall's name for `indexed_text`)."""
    return indexed_text(role, content)


def fuse(rankings: Sequence[Sequence[Id]], k: int = RRF_K) -> list[tuple[Id, float]]:
    """Reciprocal rank fusion of best-first rankings with equal weights (h-recall's form of
    `reciprocal_rank_fusion`)."""
    return reciprocal_rank_fusion(rankings, [1.0] * len(rankings), k)


def fused_dist(score: float, lists: int, k: int = RRF_K) -> float:
    """Motörhead's `dist` (smaller is nearer, 0 the nearest possible) for a fused score: 1
    minus the score over the best possible one (first in all `lists` rankings)."""
    best = lists / (k + 1)
    return max(0.0, 1.0 - score / best) if best > 0 else 1.0
