"""Measure long-term recall on a store (measured, not asserted):
`python bench/recall_server.py [--quick] [--embedding wordllama|minilm] [--store redis]`
(Redis: a real redis-server started for the run, a database of its own per measurement).

Prints, in one run:
  1. indexing throughput (messages/s) of the indexer with the chosen model, and of MiniLM
     (the default model) on a small set, side by side;
  2. POST /retrieval p50/p99 at 1k and 100k indexed messages (`--sizes` for others, 1M too),
     in one session and spread over many (100 a session), and POST /search across every
     session, next to GET /memory on the same server (the cheapest route: the floor any
     route pays), with the server process's resident memory after the measurement;
  3. POST /memory p50/p99 with long-term memory off, on without an indexer (the cost of the
     keyword entries written in the append), on with the indexer embedding meanwhile in the
     server's process (the embedded server's way: sharing its GIL and cores) and in a worker
     process (`chatcli serve`'s way), alternated twice.

The server is the real app under uvicorn on loopback (ThreadedServer), in this process, with
one sequential keep-alive client; the machine's two cores are shared, so read the figures
against each other (same run), not as absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from chatcli.config import ServerSettings, Settings  # noqa: E402
from chatcli.server.app import create_app  # noqa: E402
from chatcli.server.embedding import EmbedderHandle  # noqa: E402
from chatcli.server.indexer import Indexer  # noqa: E402
from chatcli.server.redis_store import RedisStore  # noqa: E402
from chatcli.server.sqlite_store import SQLiteStore  # noqa: E402
from chatcli.server.store import Message, Store  # noqa: E402
from chatcli.server.threaded import ThreadedServer  # noqa: E402
from tests.support.procs import RedisServer, redis_server  # noqa: E402

VOCABULARY = 5000
WORDS = [f"w{i}" for i in range(VOCABULARY)]
COMMON = ["the", "a", "i", "you", "is", "my", "and", "to", "of", "it", "what", "do"]


ZIPF = list(itertools.accumulate(1 / (rank + 10) for rank in range(VOCABULARY)))
"""Content words' cumulative frequencies: Zipf's law, shifted so that the commonest content
word is in about 1 message of 10 (the commonest words of all are the COMMON ones)."""


def sentence(rng: random.Random) -> str:
    """8-20 words: half common (stop) words, the rest content words by ZIPF."""
    words = []
    for _ in range(rng.randint(8, 20)):
        if rng.random() < 0.5:
            words.append(rng.choice(COMMON))
        else:
            words.append(rng.choices(WORDS, cum_weights=ZIPF)[0])
    return " ".join(words)


Target = Path | str
"""Where a measurement's data lives: a SQLite file, or a Redis database's URL."""


class Targets:
    """A fresh, empty place per measurement, on the store being measured."""

    def __init__(self, tmp: Path, redis_proc: RedisServer | None) -> None:
        self.tmp = tmp
        self.redis_proc = redis_proc
        self.used = 0

    def next(self, name: str) -> Target:
        if self.redis_proc is None:
            return self.tmp / f"{name}.db"
        self.used += 1
        return self.redis_proc.own_database(16 + self.used % 16)


def open_store(target: Target) -> Store:
    return RedisStore(target) if isinstance(target, str) else SQLiteStore(target)


def embedder_for(kind: str, batch_process: bool = False) -> EmbedderHandle:
    """`batch_process`: the indexer's batches in a worker process, as `chatcli serve` has it."""
    settings = Settings(server=ServerSettings(embedding=kind))
    return EmbedderHandle.from_settings(settings, batch_process=batch_process)


async def fill(path: Target, sessions: int, per_session: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    store = open_store(path)
    for s in range(sessions):
        left = per_session
        while left:
            n = min(left, 1000)
            messages = [Message(rng.choice(["Human", "AI"]), sentence(rng)) for _ in range(n)]
            await store.append(f"s{s}", messages, None, None, time.time())
            left -= n
    await store.close()


async def index(path: Target, embedder: EmbedderHandle) -> tuple[int, float]:
    store = open_store(path)
    indexer = Indexer(store, embedder)
    await embedder.model()
    started = time.perf_counter()
    done = await indexer.index_now()
    seconds = time.perf_counter() - started
    await store.close()
    return done, seconds


@contextlib.contextmanager
def server(path: Target, embedder: EmbedderHandle | None, indexer: bool = False) -> Iterator[str]:
    store = open_store(path)
    settings = ServerSettings(summarize=False, long_term_memory=embedder is not None)
    running = Indexer(store, embedder) if embedder is not None and indexer else None
    app = create_app(store, settings, None, embedder=embedder, indexer=running)
    with ThreadedServer(app, log_level="critical") as url:
        yield url


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(client: httpx.Client, requests: list[tuple[str, str, dict | None]]) -> list[float]:
    out = []
    for method, path, body in requests:
        start = time.perf_counter()
        response = client.request(method, path, json=body)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return out


def resident_mb() -> float:
    """VmRSS, from Linux's /proc (the bench runs on these Linux machines)."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def line(label: str, samples: list[float]) -> None:
    p50, p99 = percentiles(samples)
    print(f"  {label:<50} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (n={len(samples)})")


def latency_section(tmp: Targets, kind: str, sizes: list[int], queries: int) -> None:
    embedder = embedder_for(kind)
    rng = random.Random(7)
    for total in sizes:
        for layout, sessions in (("one session", 1), ("100 a session", max(1, total // 100))):
            path = tmp.next(f"lat-{kind}-{total}-{sessions}")
            asyncio.run(fill(path, sessions, total // sessions))
            done, seconds = asyncio.run(index(path, embedder))
            print(f"{total} messages, {layout}: indexed {done} in {seconds:.1f}s")
            with (
                server(path, embedder) as url,
                httpx.Client(base_url=url, timeout=120) as client,
            ):
                texts = [sentence(rng)[:40] for _ in range(queries)]
                picks = [f"s{rng.randrange(sessions)}" for _ in range(queries)]
                warm = [("POST", f"/sessions/{picks[0]}/retrieval", {"text": "warm up"})]
                print(f"  first POST /retrieval (a cold index): {timed(client, warm)[0]:.2f} s")
                line(
                    "GET /memory (floor)",
                    timed(client, [("GET", f"/sessions/{p}/memory", None) for p in picks]),
                )
                line(
                    "POST /retrieval",
                    timed(
                        client,
                        [
                            ("POST", f"/sessions/{p}/retrieval", {"text": t})
                            for p, t in zip(picks, texts, strict=True)
                        ],
                    ),
                )
                if sessions > 1:
                    timed(client, [("POST", "/search", {"text": "warm up"})])
                    line(
                        "POST /search (every session)",
                        timed(client, [("POST", "/search", {"text": t}) for t in texts]),
                    )
                print(
                    f"  resident memory of this process (server and client): {resident_mb():.0f} MB"
                )


def throughput_section(tmp: Targets, kind: str, n: int, minilm_n: int) -> None:
    print("Indexing throughput (Indexer.index_backlog, batches of 64, one thread):")
    for model, count in ((kind, n), ("minilm", minilm_n)):
        path = tmp.next(f"tp-{model}")
        asyncio.run(fill(path, max(1, count // 100), min(count, 100), seed=3))
        done, seconds = asyncio.run(index(path, embedder_for(model)))
        print(f"  {model:<10} {done:>7} messages in {seconds:6.1f}s = {done / seconds:8.0f}/s")


def post_section(tmp: Targets, kind: str, posts: int) -> None:
    print("POST /memory (2 messages each), long-term memory on vs off, alternated:")
    embedder = embedder_for(kind)
    rng = random.Random(11)
    in_worker = embedder_for(kind, batch_process=True)
    modes = [
        ("off", None, False),
        ("on, keyword entries only (no indexer)", embedder, False),
        ("on, indexer embedding in this process", embedder, True),
        ("on, indexer embedding in a worker (serve)", in_worker, True),
    ]
    for attempt in range(2):
        for number, (label, handle, indexing) in enumerate(modes):
            path = tmp.next(f"post-{attempt}-{number}")
            with (
                server(path, handle, indexer=indexing) as url,
                httpx.Client(base_url=url) as client,
            ):
                body = [
                    (
                        "POST",
                        f"/sessions/p{i % 20}/memory",
                        {
                            "messages": [
                                {"role": "Human", "content": sentence(rng)},
                                {"role": "AI", "content": sentence(rng)},
                            ]
                        },
                    )
                    for i in range(posts)
                ]
                if handle is not None and indexing:
                    asyncio.run(handle.embed_batch(["warm up"]))  # the worker, started
                timed(client, body[:20])
                line(f"{label} (round {attempt + 1})", timed(client, body))


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1k only, fewer samples")
    parser.add_argument("--embedding", default="wordllama", choices=["wordllama", "minilm"])
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "redis"])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        help="indexed messages per latency measurement, e.g. 1000,100000,1000000 "
        "(default 1000,100000; 1M takes about 5 min a store to build)",
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="skip indexing throughput and POST cost"
    )
    args = parser.parse_args()
    sizes = args.sizes or ([1000] if args.quick else [1000, 100_000])
    queries = 50 if args.quick else 300
    with (
        tempfile.TemporaryDirectory(prefix="chatcli-recall-bench-") as tmp,
        redis_server() if args.store == "redis" else contextlib.nullcontext() as redis_proc,
    ):
        root = Targets(Path(tmp), redis_proc)
        print(f"Store: {args.store}")
        if not args.latency_only:
            throughput_section(root, args.embedding, 2000 if args.quick else 10_000, 200)
            post_section(root, args.embedding, 100 if args.quick else 2000)
        print(f"Latency ({args.embedding} embeddings, exact dense search, FTS5 BM25, fused):")
        latency_section(root, args.embedding, sizes, queries)


if __name__ == "__main__":
    main()
