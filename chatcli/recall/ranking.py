"""Pure ranking logic of recall: the keyword query, the fusion of rankings, and `dist`.

(The smallest versions the server needs; h-embed owns this module and its tests.)"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60
"""Reciprocal rank fusion's constant (Cormack et al.): rank r scores 1 / (RRF_K + r)."""
MAX_QUERY_WORDS = 64
"""A query's words past this many are dropped, so one request cannot make the keyword
index intersect thousands of posting lists."""
WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves s t don""".split()
)
"""Words nearly every message holds: matching them ranks nothing and costs a posting list as
long as the index, so a query leaves them out (unless it holds nothing else)."""


def document_text(role: str, content: str) -> str:
    """What a message is indexed as: the speaker's name is often what a question asks about."""
    return f"{role}: {content}"


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression finding any word of `text` but the stopwords (each quoted,
    so no word is read as FTS5 syntax), or None when `text` has no words."""
    words = list(dict.fromkeys(w.lower() for w in WORD.findall(text)))
    if not words:
        return None
    words = [w for w in words if w not in STOPWORDS] or words
    words = words[:MAX_QUERY_WORDS]
    return " OR ".join(f'"{w}"' for w in words)


def fuse(rankings: Sequence[Sequence[K]], k: int = RRF_K) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of best-first rankings: each key scored by the sum of
    1 / (k + rank) over the rankings holding it (rank from 1), best first; ties keep the
    order in which the keys were first seen."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def fused_dist(score: float, lists: int, k: int = RRF_K) -> float:
    """Motörhead's `dist` (smaller is nearer, 0 the nearest possible) for a fused score: 1
    minus the score over the best possible one (first in all `lists` rankings), so it only
    grows down the fused order and stays within [0, 1]."""
    best = lists / (k + 1)
    return max(0.0, 1.0 - score / best) if best > 0 else 1.0
