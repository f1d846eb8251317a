"""Recall latency on the Redis store (measured, not asserted): `python bench/recall_redis.py`.

For each size, messages are posted through the store (100 per append) into one session, or
spread over sessions of 100 messages each, then given 256-dim unit vectors through the
store's own unindexed/add_vectors (random vectors: the embedding model's cost is not what is
measured here). Then, on a fresh store (a new process's view), the first search (which loads
the in-memory index) and the p50/p99 of keyword_search and nearest, within one session and
across all, are printed beside the issue's limit (p99 <= 50 ms at 100k). POST cost: the
append with recall's dirty mark against the same script without it, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatcli.server.redis_store import RedisStore  # noqa: E402
from chatcli.server.store import Message  # noqa: E402
from tests.support.procs import redis_server  # noqa: E402

DIM = 256
PER_APPEND = 100
PROBES = 200
LIMIT_MS = 50.0
WORDS = [
    "sister",
    "lisbon",
    "garden",
    "piano",
    "coffee",
    "train",
    "dog",
    "cat",
    "winter",
    "summer",
    "recipe",
    "bread",
    "doctor",
    "meeting",
    "project",
    "deadline",
    "holiday",
    "beach",
    "mountain",
    "river",
    "book",
    "film",
    "music",
    "guitar",
    "paint",
    "kitchen",
    "office",
    "school",
    "market",
    "bicycle",
    "car",
    "phone",
    "letter",
    "birthday",
    "wedding",
    "friend",
    "uncle",
]


def text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20)))


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def fill(url: str, total: int, per_session: int | None) -> list[str]:
    store = RedisStore(url)
    rng = random.Random(1)
    sessions: list[str] = []
    for start in range(0, total, PER_APPEND):
        number = 0 if per_session is None else start // per_session
        session = f"bench-{number}"
        if not sessions or sessions[-1] != session:
            sessions.append(session)
        batch = [Message("Human" if i % 2 else "AI", text(rng)) for i in range(PER_APPEND)]
        await store.append(session, batch, None, None, time.time())
    vectors = np.random.default_rng(2)
    while items := await store.unindexed("bench", 2000):
        rows = unit(vectors, len(items))
        await store.add_vectors("bench", [(it, rows[i].tobytes()) for i, it in enumerate(items)])
    await store.close()
    return sessions


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def probe(url: str, session: str | None) -> dict[str, tuple[float, ...]]:
    """Per search: first (cold) ms, p50, p99, and the p50 of the in-memory part alone (the
    same queries on the loaded index, no Redis): the peer that shows what Redis adds."""
    from chatcli.recall.ranking import query_terms

    store = RedisStore(url)
    rng = random.Random(3)
    query = np.random.default_rng(4)
    out = {}
    for name in ("keyword", "nearest"):
        times, memory = [], []
        for _ in range(PROBES + 1):
            q = " ".join(rng.choice(WORDS) for _ in range(4))
            v = unit(query, 1)[0]
            started = time.perf_counter()
            if name == "keyword":
                await store.keyword_search(session, q, 10)
            else:
                await store.nearest(session, "bench", v, 10)
            times.append((time.perf_counter() - started) * 1000)
            index = store.recall._index
            started = time.perf_counter()
            if name == "keyword":
                index.keyword(session, query_terms(q), 20)
            else:
                index.nearest(session, "bench", v, 20)
            memory.append((time.perf_counter() - started) * 1000)
        out[name] = (times[0], statistics.median(times[1:]), pct(times[1:], 0.99),
                     statistics.median(memory[1:]))  # fmt: skip
    await store.close()
    return out


async def post_cost(url: str) -> tuple[float, float, float, float]:
    """POST p50/p99 (ms) of a 2-message append, with and without the dirty mark."""
    from chatcli.server import redis_store

    store = RedisStore(url)
    with_mark = []
    for i in range(2000):
        started = time.perf_counter()
        await store.append(f"post-{i % 50}", [Message("Human", "hi"), Message("AI", "yo")], None,
                           None, time.time())  # fmt: skip
        with_mark.append((time.perf_counter() - started) * 1000)
    conn = store._connection()
    plain = conn.client.register_script(
        redis_store._PRELUDE
        + redis_store._APPEND.replace("redis.call('SADD', KEYS[7], ARGV[2])", "")
    )
    without = []
    for i in range(2000):
        session = f"post-{i % 50}"
        keys = [f"session:{session}", "sessions", f"context:{session}",
                f"chatcli:transcript:{session}", f"chatcli:order:{session}",
                f"chatcli:window:{session}", "chatcli:recall:dirty"]  # fmt: skip
        started = time.perf_counter()
        await plain(keys=keys, args=[time.time(), session, "0", "", "Human: hi", "AI: yo"])
        without.append((time.perf_counter() - started) * 1000)
    await store.close()
    return (
        statistics.median(with_mark[100:]),
        pct(with_mark[100:], 0.99),
        statistics.median(without[100:]),
        pct(without[100:], 0.99),
    )


async def main(sizes: list[int]) -> None:
    with redis_server() as proc:
        print(f"{'layout':<34} {'search':<8} {'first ms':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'memory p50':>10} limit")  # fmt: skip
        for size in sizes:
            layouts = ((f"{size} in one session", None), (f"{size} in sessions of 100", 100))
            for label, per_session in layouts:
                url = proc.own_database(30)
                started = time.perf_counter()
                sessions = await fill(url, size, per_session)
                filled = time.perf_counter() - started
                print(f"# filled and indexed {size} messages in {filled:.1f}s")
                scopes = [("session", sessions[len(sessions) // 2])]
                if per_session is not None:
                    scopes.append(("all", None))
                for scope, session in scopes:
                    for name, (first, p50, p99, mem) in (await probe(url, session)).items():
                        where = f"{label} ({scope})"
                        print(f"{where:<34} {name:<8} {first:>9.1f} {p50:>8.2f} {p99:>8.2f} "
                              f"{mem:>10.2f} p99 <= {LIMIT_MS:.0f}")  # fmt: skip
        url = proc.own_database(31)
        w50, w99, o50, o99 = await post_cost(url)
        print(f"append p50/p99 ms: with recall's mark {w50:.3f}/{w99:.3f}, "
              f"without {o50:.3f}/{o99:.3f} (limit 1.2x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    asyncio.run(main([int(s) for s in parser.parse_args().sizes.split(",")]))
