"""Measure the memory server (measured, not asserted): `python bench/server.py [--quick]`.

Prints, in one run:
  1. POST and GET requests/s and p50/p99 latency for the SQLite and Redis stores at a few
     client concurrencies, next to the same workload done as raw redis-py round trips (the
     limit a Redis-backed server could reach);
  2. POST p99 while summaries run (a slow scripted LLM) versus idle;
  3. GET and POST latency with 1k versus 1M stored messages.

Everything runs on loopback: its own redis-server, its own `chatcli serve` children and
the scripted OpenAI-compatible server from tests/support. The load comes from one client
process using a minimal keep-alive HTTP/1.1 client (httpx would cost more CPU than the
server and measure itself). The machine has two cores shared by client and server, so
read figures relative to each other, not as absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import redis.asyncio as aredis  # noqa: E402

from tests.support.procs import (  # noqa: E402
    RedisServer,
    ServeProcess,
    redis_server,
    start_serve,
)
from tests.support.scripted_openai import ScriptedOpenAI  # noqa: E402

WINDOW = 12
SUMMARY_DELAY = 0.2
MESSAGE = {"role": "Human", "content": "hi im bob, what is for dinner tonight?"}


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- a minimal HTTP/1.1 keep-alive client ----------------------------------------------


class Conn:
    """One persistent connection; requests in sequence, as a pooled client would send them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        assert self.reader is not None
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        length = 0
        for line in headers.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {payload[:200]!r}")
        return payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive(
    concurrency: int, total: int, make: Callable[[int], Callable[[int], Awaitable[None]]]
) -> tuple[float, list[float]]:
    """`total` operations split over `concurrency` workers; `make(w)` gives worker w's op(i)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker(w: int) -> None:
        op = make(w)
        for i in counter:
            started = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - started, latencies


def post_body(n: int = 1) -> bytes:
    return json.dumps({"messages": [MESSAGE] * n}).encode()


async def http_load(
    port: int, op: str, concurrency: int, total: int, sessions: list[str]
) -> tuple[float, list[float]]:
    conns = [Conn(port) for _ in range(concurrency)]
    body = post_body()

    def make(w: int) -> Callable[[int], Awaitable[None]]:
        conn = conns[w]

        async def run(i: int) -> None:
            path = f"/sessions/{sessions[i % len(sessions)]}/memory"
            if op == "POST":
                await conn.request("POST", path, body)
            else:
                await conn.request("GET", path)

        return run

    try:
        return await drive(concurrency, total, make)
    finally:
        for conn in conns:
            conn.close()


async def raw_redis_load(
    url: str, op: str, concurrency: int, total: int, sessions: list[str]
) -> tuple[float, list[float]]:
    """What the server does per request, as one redis-py round trip each (MULTI/EXEC)."""
    client = aredis.Redis.from_url(url, max_connections=concurrency + 2)
    line = f"{MESSAGE['role']}: {MESSAGE['content']}"

    def make(w: int) -> Callable[[int], Awaitable[None]]:
        async def run(i: int) -> None:
            sid = sessions[i % len(sessions)]
            async with client.pipeline(transaction=True) as pipe:
                if op == "POST":
                    pipe.zadd("sessions", {sid: time.time()})
                    pipe.lpush(f"session:{sid}", line)
                else:
                    pipe.lrange(f"session:{sid}", 0, WINDOW - 1)
                    pipe.mget(f"context:{sid}", f"tokens:{sid}")
                await pipe.execute()

        return run

    try:
        return await drive(concurrency, total, make)
    finally:
        await client.aclose()


# --- servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def serve(args: list[str], env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    proc = start_serve([*args, "--log-level", "warning"], env=env)
    try:
        yield proc
    finally:
        proc.stop()


def store_args(store: str, redis_proc: RedisServer, db: Path) -> list[str]:
    if store == "redis":
        return ["--store", "redis", "--redis-url", redis_proc.url]
    return ["--store", "sqlite", "--db", str(db)]


def llm_env(llm: ScriptedOpenAI) -> dict[str, str]:
    return {
        "CHATCLI_LLM_PROVIDER": "openai",
        "CHATCLI_LLM_BASE_URL": llm.base_url,
        "CHATCLI_LLM_API_KEY": "bench",
    }


def prefill(port: int, sessions: list[str], messages: int) -> None:
    async def main() -> None:
        conn = Conn(port)
        body = post_body(messages)
        for sid in sessions:
            await conn.request("POST", f"/sessions/{sid}/memory", body)
        conn.close()

    asyncio.run(main())


def fill_sqlite(db: Path, total: int, per_session: int) -> None:
    """Stored messages in bulk, straight into the store's tables (the server is stopped)."""
    conn = sqlite3.connect(db)
    sessions = total // per_session
    now = time.time()
    with conn:
        conn.executemany(
            "INSERT INTO sessions(id, count) VALUES (?, ?)",
            ((f"fill-{s}", per_session) for s in range(sessions)),
        )
        conn.executemany(
            "INSERT INTO session_index(namespace, session_id, score) VALUES ('', ?, ?)",
            ((f"fill-{s}", now) for s in range(sessions)),
        )
        conn.executemany(
            "INSERT INTO messages(session_id, role, content) VALUES (?, ?, ?)",
            (
                (f"fill-{s}", MESSAGE["role"], f"{MESSAGE['content']} {s}.{m}")
                for s in range(sessions)
                for m in range(per_session)
            ),
        )
    conn.close()


def fill_redis(url: str, total: int, per_session: int) -> None:
    client = redis.Redis.from_url(url)
    sessions = total // per_session
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for s in range(sessions):
        sid = f"fill-{s}"
        pipe.lpush(
            f"session:{sid}",
            *(f"{MESSAGE['role']}: {MESSAGE['content']} {s}.{m}" for m in range(per_session)),
        )
        pipe.zadd("sessions", {sid: now})
        if s % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    client.close()


# --- the three measurements --------------------------------------------------------------


def throughput(
    redis_proc: RedisServer, workdir: Path, levels: list[int], total: int
) -> list[tuple[str, str, int, Result]]:
    rows: list[tuple[str, str, int, Result]] = []
    sessions = [f"bench-{i}" for i in range(64)]
    for store in ("sqlite", "redis"):
        redis_proc.flush()
        with serve([*store_args(store, redis_proc, workdir / "tp.db"), "--no-summarize"]) as proc:
            prefill(proc.port, sessions, WINDOW)
            for op in ("POST", "GET"):
                for level in levels:
                    seconds, lat = asyncio.run(http_load(proc.port, op, level, total, sessions))
                    rows.append((store, op, level, Result(store, total, seconds, lat)))
    redis_proc.flush()
    for op in ("POST", "GET"):
        for level in levels:
            seconds, lat = asyncio.run(raw_redis_load(redis_proc.url, op, level, total, sessions))
            rows.append(("raw redis-py", op, level, Result("raw", total, seconds, lat)))
    return rows


def cluster_throughput(
    redis_proc: RedisServer, levels: list[int], total: int
) -> list[tuple[str, str, int, Result]]:
    """chatcli serve on a local Redis Cluster (three masters, a replica each), with and
    without --redis-wait-replicas 1, beside one Redis in the same run."""
    from tests.support.procs import redis_cluster

    rows: list[tuple[str, str, int, Result]] = []
    sessions = [f"bench-{i}" for i in range(64)]
    with redis_cluster() as cluster:
        setups = [
            ("redis", ["--redis-url", redis_proc.url]),
            ("redis cluster", ["--redis-url", cluster.url]),
            ("cluster + WAIT 1", ["--redis-url", cluster.url, "--redis-wait-replicas", "1"]),
        ]
        for label, args in setups:
            redis_proc.flush()
            cluster.flush()
            with serve(["--store", "redis", *args, "--no-summarize"]) as proc:
                prefill(proc.port, sessions, WINDOW)
                for op in ("POST", "GET"):
                    for level in levels:
                        seconds, lat = asyncio.run(http_load(proc.port, op, level, total, sessions))
                        rows.append((label, op, level, Result(label, total, seconds, lat)))
    return rows


def report_cluster(rows: list[tuple[str, str, int, Result]], total: int) -> None:
    one = {(op, level): r.rate for store, op, level, r in rows if store == "redis"}
    print_table(
        f"4. Redis Cluster ({total} requests per row; one server process; window {WINDOW})",
        ["store", "op", "clients", "req/s", "p50 ms", "p99 ms", "% of one redis"],
        [
            [store, op, str(level), fmt(r.rate), fmt(r.pct(0.5)), fmt(r.pct(0.99)),
             f"{100 * r.rate / one[(op, level)]:.0f}%"]
            for store, op, level, r in rows
        ],
    )  # fmt: skip


def post_while_summarizing(
    redis_proc: RedisServer, workdir: Path, total: int, rounds: int, llm: ScriptedOpenAI
) -> list[tuple[str, str, Result]]:
    """The same POST load on a server with summaries off and on one with a slow summarizer
    busy all along, alternating `rounds` times so that noise from the machine hits both."""
    llm.reset()
    llm.delay = SUMMARY_DELAY
    llm.responder = lambda prompt: "The human keeps asking about dinner."
    sessions = [f"sum-{i}" for i in range(32)]
    rows: list[tuple[str, str, Result]] = []
    for store in ("sqlite", "redis"):
        redis_proc.flush()
        servers = {}
        with contextlib.ExitStack() as stack:
            for mode in ("idle", "summarizing"):
                db = workdir / f"sum-{store}-{mode}.db"
                flag = "--summarize" if mode == "summarizing" else "--no-summarize"
                prefix = ["--window", "4", flag]
                if store == "redis":
                    # Two servers on one Redis would compact each other's sessions: give
                    # the idle one a database of its own.
                    url = redis_proc.url.rsplit("/", 1)[0] + ("/1" if mode == "idle" else "/0")
                    prefix += ["--store", "redis", "--redis-url", url]
                else:
                    prefix += ["--store", "sqlite", "--db", str(db)]
                servers[mode] = stack.enter_context(serve(prefix, env=llm_env(llm)))
            warm_up(servers["summarizing"].port, llm)
            asked = len(llm.requests)
            pooled: dict[str, tuple[float, list[float]]] = {m: (0.0, []) for m in servers}
            for _ in range(rounds):
                for mode, proc in servers.items():
                    seconds, lat = asyncio.run(http_load(proc.port, "POST", 8, total, sessions))
                    spent, latencies = pooled[mode]
                    pooled[mode] = (spent + seconds, latencies + lat)
            summaries = len(llm.requests) - asked
        for mode, (seconds, lat) in pooled.items():
            label = f"{mode} ({summaries} summaries)" if mode == "summarizing" else mode
            rows.append((store, mode, Result(label, total * rounds, seconds, lat)))
    return rows


def warm_up(port: int, llm: ScriptedOpenAI) -> None:
    """One summary before measuring: the first one imports LangChain (seconds of CPU, once
    per process), which is start-up cost, not the cost of summaries running."""
    asked = len(llm.requests)
    prefill(port, ["warm-up"], 5)
    deadline = time.monotonic() + 120
    while (
        len(llm.requests) == asked
        or json.loads(asyncio.run(_get(port, "/sessions/warm-up/memory")))["context"] is None
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the server never summarized the warm-up session")
        time.sleep(0.1)


async def _get(port: int, path: str) -> bytes:
    conn = Conn(port)
    try:
        return await conn.request("GET", path)
    finally:
        conn.close()


def latency_by_size(
    redis_proc: RedisServer, workdir: Path, sizes: list[int], total: int
) -> list[tuple[str, int, str, Result]]:
    rows: list[tuple[str, int, str, Result]] = []
    sessions = [f"probe-{i}" for i in range(16)]
    for store in ("sqlite", "redis"):
        for size in sizes:
            redis_proc.flush()
            db = workdir / f"size-{store}-{size}.db"
            args = [*store_args(store, redis_proc, db), "--no-summarize"]
            if store == "sqlite":
                with serve(args):
                    pass  # creates the schema
                fill_sqlite(db, size, 10)
            else:
                fill_redis(redis_proc.url, size, 10)
            with serve(args) as proc:
                prefill(proc.port, sessions, WINDOW)
                for op in ("POST", "GET"):
                    seconds, lat = asyncio.run(http_load(proc.port, op, 1, total, sessions))
                    rows.append((store, size, op, Result(op, total, seconds, lat)))
    return rows


# --- output ------------------------------------------------------------------------------


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def report_throughput(tp: list[tuple[str, str, int, Result]], total: int) -> None:
    raw = {(op, level): r.rate for store, op, level, r in tp if store == "raw redis-py"}
    print_table(
        f"1. Throughput ({total} requests per row; one server process; window {WINDOW})",
        ["store", "op", "clients", "req/s", "p50 ms", "p99 ms", "% of raw redis"],
        [
            [store, op, str(level), fmt(r.rate), fmt(r.pct(0.5)), fmt(r.pct(0.99)),
             f"{100 * r.rate / raw[(op, level)]:.0f}%"]
            for store, op, level, r in tp
        ],
    )  # fmt: skip


def report_summarizing(summ: list[tuple[str, str, Result]]) -> None:
    idle = {store: r.pct(0.99) for store, mode, r in summ if mode == "idle"}
    print_table(
        f"2. POST latency, 8 clients, window 4, 32 sessions, LLM answering in {SUMMARY_DELAY}s",
        ["store", "mode", "req/s", "p50 ms", "p99 ms", "p99 / idle p99"],
        [
            [store, r.label, fmt(r.rate), fmt(r.pct(0.5)), fmt(r.pct(0.99)),
             f"{r.pct(0.99) / idle[store]:.2f}x"]
            for store, mode, r in summ
        ],
    )  # fmt: skip


def report_sizes(by_size: list[tuple[str, int, str, Result]]) -> None:
    print_table(
        "3. Latency by stored messages (1 client)",
        ["store", "stored", "op", "p50 ms", "p99 ms", "mean ms"],
        [
            [store, f"{size:,}", op, fmt(r.pct(0.5)), fmt(r.pct(0.99)),
             fmt(statistics.mean(r.latencies) * 1000)]
            for store, size, op, r in by_size
        ],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, 100k not 1M")
    parser.add_argument(
        "--only",
        type=int,
        choices=[1, 2, 3, 4],
        help="run one measurement (default: 1-3; 4 is the Redis Cluster's, which needs redis-cli)",
    )
    options = parser.parse_args()
    parts = [options.only] if options.only else [1, 2, 3]
    levels = [1, 8, 32]
    total = 1000 if options.quick else 4000
    rounds = 1 if options.quick else 3
    sizes = [1_000, 100_000 if options.quick else 1_000_000]
    started = time.monotonic()

    llm = ScriptedOpenAI().start()
    try:
        with redis_server() as redis_proc, tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if 1 in parts:
                report_throughput(throughput(redis_proc, workdir, levels, total), total)
            if 2 in parts:
                report_summarizing(post_while_summarizing(redis_proc, workdir, total, rounds, llm))
            if 3 in parts:
                report_sizes(latency_by_size(redis_proc, workdir, sizes, total // 2))
            if 4 in parts:
                report_cluster(cluster_throughput(redis_proc, levels, total), total)
    finally:
        llm.stop()
    print(
        "\nTargets: per process >= 25% of the raw Redis rate; POST p99 while summarizing "
        "<= 1.2x idle; latency flat from 1k to 1M stored messages."
    )
    print(f"(ran in {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
