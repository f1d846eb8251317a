"""Recall@10 of /retrieval's rankings on bench/recall_set.json, side by side in one run.

Each question is asked of its own session (as /retrieval searches one session) and is a hit
when its evidence message is among the 10 answers. The rankings:

- window: the newest 10 messages, what a chat without long-term recall has;
- keyword: SQLite FTS5 bm25 over "Role: content" (porter stemming, unicode61), in an in-memory
  database, with the server's query builder (chatcli.recall.ranking.fts_query);
- dense, per packaged model: exact top-10 cosine of the question's embedding;
- fusion, per model: reciprocal-rank fusion of keyword and dense (chatcli.recall.ranking.hybrid,
  with its default Fusion), and a small sweep of its parameters.

"chunked" rows embed a long message as chunks of whole sentences (chatcli.recall.chunking)
and rank it by its best chunk. Then each model's load time, embedding throughput (messages a
second, all of the set's messages in one call, the way a server backfills) and the median time
to embed one question. Printed, never asserted.

    python3 bench/recall.py [--models minilm wordllama] [--no-sweep] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from chatcli.recall.chunking import chunks, first_of_each, owners
from chatcli.recall.embedder import Embedder
from chatcli.recall.ranking import (
    DENSE_FIRST,
    Fusion,
    fts_query,
    hybrid,
    indexed_text,
    top_k_cosine,
)

DATA = Path(__file__).with_name("recall_set.json")
TOP = 10
WINDOW = 10


@dataclass
class Session:
    ids: list[str]
    texts: list[str]
    chunks: list[list[str]]
    db: sqlite3.Connection


def load_sessions(data: dict) -> dict[str, Session]:
    sessions = {}
    for raw in data["sessions"]:
        ids = [m["id"] for m in raw["messages"]]
        texts = [indexed_text(m["role"], m["content"]) for m in raw["messages"]]
        parts = [chunks(m["role"], m["content"]) for m in raw["messages"]]
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE m USING fts5(body, tokenize='porter unicode61')")
        db.executemany("INSERT INTO m(rowid, body) VALUES (?, ?)", enumerate(texts))
        sessions[raw["id"]] = Session(ids, texts, parts, db)
    return sessions


def keyword_ranking(session: Session, question: str, depth: int) -> list[str]:
    query = fts_query(question)
    if query is None:
        return []
    rows = session.db.execute(
        "SELECT rowid FROM m WHERE m MATCH ? ORDER BY bm25(m) LIMIT ?", (query, depth)
    ).fetchall()
    return [session.ids[rowid] for (rowid,) in rows]


def open_model(name: str) -> Embedder:
    if name == "minilm":
        from chatcli.recall.minilm import MiniLMEmbedder

        return MiniLMEmbedder.load()
    from chatcli.recall.wordllama_model import WordLlamaEmbedder

    return WordLlamaEmbedder.load()


def chunked_rankings(
    model: Embedder,
    sessions: dict[str, Session],
    matrices: dict,
    questions: list[dict],
    asked: np.ndarray,
    depth: int,
) -> list[list[str]]:
    """Dense rankings where a long message is its chunks, ranked by its best one. A message of
    one chunk keeps its vector; only the long messages' chunks are embedded again."""
    laid: dict[str, tuple[np.ndarray, list[str]]] = {}
    for sid, s in sessions.items():
        rows = [
            matrices[sid][i : i + 1] if len(parts) == 1 else model.embed(parts)
            for i, parts in enumerate(s.chunks)
        ]
        laid[sid] = (np.concatenate(rows), owners(s.chunks, s.ids))
    rankings = []
    for q, vector in zip(questions, asked, strict=True):
        matrix, owner = laid[q["session"]]
        hits = top_k_cosine(matrix, vector, depth * 3)
        rankings.append(first_of_each(owner[i] for i, _ in hits)[:depth])
    return rankings


def recall(answers: list[list[str]], questions: list[dict], kind: str | None = None) -> float:
    """The share of evidence messages among the top 10, over the questions of `kind` (all
    when None), in percent."""
    hits = [
        len(set(q["evidence"]) & set(a[:TOP])) / len(q["evidence"])
        for a, q in zip(answers, questions, strict=True)
        if kind is None or q["kind"] == kind
    ]
    return 100.0 * sum(hits) / len(hits)


KINDS = (None, "paraphrase", "partial", "entity")
"""All questions; those sharing no content word with the fact; those sharing one or a name;
those asking about one name or rare word alone."""


def recalls(answers: list[list[str]], questions: list[dict]) -> tuple[float, ...]:
    return tuple(recall(answers, questions, kind) for kind in KINDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "wordllama"])
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    data = json.loads(DATA.read_text(encoding="utf-8"))
    questions = data["questions"]
    sessions = load_sessions(data)
    count = sum(len(s.ids) for s in sessions.values())
    print(f"{DATA.name}: {len(sessions)} sessions, {count} messages, {len(questions)} questions")

    depth = max(Fusion().depth, 100)
    keyword = [keyword_ranking(sessions[q["session"]], q["question"], depth) for q in questions]
    window = [sessions[q["session"]].ids[-WINDOW:] for q in questions]
    rows: list[tuple[str, tuple[float, ...]]] = [
        ("window (newest 10)", recalls(window, questions)),
        ("keyword (FTS5 bm25)", recalls(keyword, questions)),
    ]
    speed: list[tuple[str, float, float, int, float]] = []
    dense_by_model: dict[str, list[list[str]]] = {}
    for name in args.models:
        started = time.perf_counter()
        model = open_model(name)
        loaded = time.perf_counter() - started
        texts = [t for s in sessions.values() for t in s.texts]
        started = time.perf_counter()
        vectors = model.embed(texts)
        embed_seconds = time.perf_counter() - started
        latencies = []
        for question in questions[:20]:
            started = time.perf_counter()
            model.embed([question["question"]])
            latencies.append(time.perf_counter() - started)
        latency = 1000 * sorted(latencies)[len(latencies) // 2]
        speed.append((model.name, loaded, len(texts) / embed_seconds, model.dim, latency))
        matrices, offset = {}, 0
        for sid, s in sessions.items():
            matrices[sid] = vectors[offset : offset + len(s.ids)]
            offset += len(s.ids)
        asked = model.embed([q["question"] for q in questions])
        dense = [
            [
                sessions[q["session"]].ids[i]
                for i, _ in top_k_cosine(matrices[q["session"]], v, depth)
            ]
            for q, v in zip(questions, asked, strict=True)
        ]
        dense_by_model[name] = dense
        rows.append((f"dense {name}", recalls(dense, questions)))
        fused = [[r.id for r in hybrid(k, d)] for k, d in zip(keyword, dense, strict=True)]
        rows.append((f"fusion keyword + {name}", recalls(fused, questions)))
        fused = [
            [r.id for r in hybrid(k, d, DENSE_FIRST)] for k, d in zip(keyword, dense, strict=True)
        ]
        rows.append(("  the same, DENSE_FIRST", recalls(fused, questions)))

        chunked = chunked_rankings(model, sessions, matrices, questions, asked, depth)
        dense_by_model[f"{name}+chunks"] = chunked
        rows.append((f"dense {name} chunked", recalls(chunked, questions)))
        fused = [[r.id for r in hybrid(k, d)] for k, d in zip(keyword, chunked, strict=True)]
        rows.append((f"fusion keyword + {name} chunked", recalls(fused, questions)))
        fused = [
            [r.id for r in hybrid(k, d, DENSE_FIRST)] for k, d in zip(keyword, chunked, strict=True)
        ]
        rows.append(("  the same, DENSE_FIRST", recalls(fused, questions)))
        if args.show_misses:
            for q, answer in zip(questions, fused, strict=True):
                if not set(q["evidence"]) & set(answer):
                    print(f"  miss ({name}) {q['key']}: {q['question']}")

    base = rows[1][1][0]
    print(f"\n{'recall@10 (%)':<36} all  vs keyword  paraphrase  partial  entity")
    for label, (everything, paraphrase, partial, entity) in rows:
        print(
            f"{label:<36} {everything:>5.1f} {everything - base:>+11.1f} {paraphrase:>11.1f}"
            f" {partial:>8.1f} {entity:>7.1f}"
        )

    print(f"\n{'model':<32} {'dim':>4} {'load s':>7} {'messages/s':>11} {'1 query ms':>10}")
    for name, loaded, rate, dim, latency in speed:
        print(f"{name:<32} {dim:>4} {loaded:>7.2f} {rate:>11.0f} {latency:>10.2f}")

    if not args.no_sweep:
        sweep(keyword, dense_by_model, questions)


def sweep(keyword: list[list[str]], dense_by_model: dict, questions: list[dict]) -> None:
    """Fusion's parameters, chosen on half the sessions and measured on the other half, so the
    defaults are not fitted to the very questions that judge them."""
    default = Fusion()
    grid = [
        replace(default, k=k, dense_weight=w, depth=d)
        for k in (10, 30, 60, 100)
        for w in (1.0, 1.5, 2.0, 3.0)
        for d in (10, 20, 50)
    ]
    tune = [i for i, q in enumerate(questions) if int(q["session"][1:]) % 2 == 0]
    held = [i for i, q in enumerate(questions) if int(q["session"][1:]) % 2 == 1]
    print("\nfusion sweep: chosen on the even sessions, measured on the odd (recall@10 %)")
    print(f"{'model':<16} {'k':>4} {'dense w':>7} {'depth':>5} {'tune':>6} {'held out':>8}")
    for name, dense in dense_by_model.items():

        def score(fusion: Fusion, subset: list[int], dense: list[list[str]] = dense) -> float:
            answers = [[r.id for r in hybrid(keyword[i], dense[i], fusion)] for i in subset]
            return recall(answers, [questions[i] for i in subset])

        ranked = sorted(grid, key=lambda f: -score(f, tune))
        candidates = (
            ("default", default),
            ("DENSE_FIRST", DENSE_FIRST),
            ("best", ranked[0]),
            ("2nd", ranked[1]),
        )
        for label, fusion in candidates:
            print(
                f"{name:<16} {fusion.k:>4} {fusion.dense_weight:>7} {fusion.depth:>5}"
                f" {score(fusion, tune):>6.1f} {score(fusion, held):>8.1f}  {label}"
            )
        alone = recall([dense[i] for i in held], [questions[i] for i in held])
        print(f"{name:<16} {'dense alone':>19} {'':>6} {alone:>8.1f}")


if __name__ == "__main__":
    main()
