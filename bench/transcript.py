"""Measure the transcript (measured, not asserted): `python bench/transcript.py [--quick]
[--sizes 1000,100000,1000000]`.

For each store, one session is filled to each size (1k, 100k and 1M messages by default)
through the store's own import, 10,000 messages a call with the server stopped (a 1M
session takes well under a minute on either store), then a `chatcli serve --no-summarize`
answers:
  - GET /sessions/{id}/transcript?limit=100 at the start, the middle (by cursor) and the end;
  - GET /sessions/{id}/memory (the window), which must stay flat as the session grows.
POST cost against the code before the transcript: run `python bench/server.py --only 1`
here and in a checkout of main, and compare (see the report's figures).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.server import Conn, serve, store_args  # noqa: E402
from chatcli.server.store import NewEntry, Store, message_id  # noqa: E402
from tests.support.procs import RedisServer, redis_server  # noqa: E402

SESSION = "big"
BATCH = 10_000
PROBES = 50


def open_store(kind: str, redis_proc: RedisServer, db: Path) -> Store:
    if kind == "redis":
        from chatcli.server.redis_store import RedisStore

        return RedisStore(redis_proc.url)
    from chatcli.server.sqlite_store import SQLiteStore

    return SQLiteStore(db)


def fill(store: Store, size: int) -> float:
    """The session grown to `size` messages, the last 12 in the window; seconds it took."""

    async def main() -> None:
        base = int(time.time() * 1000)
        for start in range(0, size, BATCH):
            entries = [
                NewEntry(
                    message_id(base, i + 1),
                    "Human" if i % 2 == 0 else "AI",
                    f"message number {i} of the long session",
                    base + i,
                    i < size - 12,
                )
                for i in range(start, min(size, start + BATCH))
            ]
            await store.import_messages(SESSION, entries, "a summary", 0, None, time.time())
        await store.close()

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def probe(port: int, paths: list[str]) -> list[float]:
    """Median ms of each path over PROBES requests on one keep-alive connection."""

    async def main() -> list[float]:
        conn = Conn(port)
        medians = []
        for path in paths:
            times = []
            for _ in range(PROBES):
                started = time.perf_counter()
                await conn.request("GET", path)
                times.append(time.perf_counter() - started)
            medians.append(statistics.median(times) * 1000)
        conn.close()
        return medians

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 100k messages, not 1M")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        help="comma-separated session sizes (default 1000,100000,1000000)",
    )
    options = parser.parse_args()
    sizes = [1_000, 100_000] if options.quick else [1_000, 100_000, 1_000_000]
    if options.sizes:
        sizes = options.sizes
    if any(size < 200 for size in sizes):
        parser.error("--sizes: each session needs at least 200 messages (two pages)")
    rows = []
    with redis_server() as redis_proc, tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "redis"):
            for size in sizes:
                redis_proc.flush()
                db = Path(tmp) / f"{kind}-{size}.db"
                seconds = fill(open_store(kind, redis_proc, db), size)
                middle = str(size // 2)
                paths = [
                    f"/sessions/{SESSION}/transcript?limit=100",
                    f"/sessions/{SESSION}/transcript?limit=100&after={middle}",
                    f"/sessions/{SESSION}/transcript?limit=100&after={size - 100}",
                    f"/sessions/{SESSION}/memory",
                ]
                args = [*store_args(kind, redis_proc, db), "--no-summarize"]
                with serve(args) as proc:
                    first, mid, last, window = probe(proc.port, paths)
                rate = size / seconds
                rows.append((kind, size, rate, first, mid, last, window))
    print("GET /sessions/{id}/transcript?limit=100 and GET /memory, by the session's size")
    print(
        f"{'store':7} {'messages':>9} {'import/s':>9} {'page@0':>8} {'page@mid':>9} "
        f"{'page@end':>9} {'GET window':>11} {'mid vs smallest':>16}   (median ms of {PROBES})"
    )
    smallest: dict[str, float] = {}
    for kind, size, rate, first, mid, last, window in rows:
        base = smallest.setdefault(kind, mid)
        print(
            f"{kind:7} {size:>9} {rate:>9.0f} {first:>8.2f} {mid:>9.2f} {last:>9.2f} "
            f"{window:>11.2f} {mid / base:>15.2f}x"
        )


if __name__ == "__main__":
    main()
