"""Measure the memory server (measured, not asserted): `python bench/server.py [--quick]`.

Prints, in one run:
  1. POST and GET requests/s and p50/p99 latency for the SQLite and Redis stores at a few
     client concurrencies, next to the same workload done as raw redis-py round trips (the
     limit a Redis-backed server could reach);
  2. POST p99 while summaries run (a slow scripted LLM) versus idle;
  3. GET and POST latency with 1k versus 1M stored messages;
  4. GET and POST requests/s under wrk (an external load generator, 16 connections, POSTs
     spread over sessions so their windows roll) on both stores and on Redis with
     `--workers 2` (CPU summed over the workers), beside raw Redis measured
     by redis-benchmark on the same redis-server, the issue's target, and (with
     `--baseline DIR`, repeatable) the same load on the server of another source tree, run
     back to back with this one `--repeat` times (medians): `git worktree add /tmp/old REV`
     then `python bench/server.py --only 4 --baseline /tmp/old`. For Redis it also shows the
     store scripts' server-side cost per call (INFO commandstats, EVALSHA);
  5. (`--only 5`) POST and GET requests/s on a local Redis Cluster, with and without WAIT 1,
     beside one Redis in the same run.

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
import csv
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
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
def serve(
    args: list[str], env: dict[str, str] | None = None, code: Path | None = None
) -> Iterator[ServeProcess]:
    """A `chatcli serve` child; `code` is another source tree to serve from (a baseline)."""
    if code is not None:
        env = {**(env or {}), "PYTHONPATH": str(code)}
    proc = start_serve([*args, "--log-level", "warning"], env=env, cwd=code)
    try:
        yield proc
    finally:
        proc.stop()


def store_args(store: str, redis_proc: RedisServer, db: Path) -> list[str]:
    if store == "redis --workers 2":
        return ["--store", "redis", "--redis-url", redis_proc.url, "--workers", "2"]
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


# --- 4. external load: wrk and redis-benchmark ------------------------------------------

WRK_CONNECTIONS = 16
WRK_SESSIONS = 64
TARGET_RATE = 4000
"""Issue 12: requests/s per server process on GET and POST /memory, 16 connections."""

WRK_SCRIPT = """
-- Requests spread over %(sessions)d sessions, so every session's window rolls.
local n = 0
local body = '%(body)s'
local headers = {["Content-Type"] = "application/json"}
request = function()
  n = n + 1
  local path = "/sessions/wrk-" .. (n %% %(sessions)d) .. "/memory"
  if "%(method)s" == "POST" then
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path)
end
"""


@dataclass
class WrkResult:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    script_us: float | None = None
    """For Redis: EVALSHA's server-side microseconds per call during the run."""
    cpu_us: float | None = None
    """The server process's CPU time (user + system) per request: its cost, which the
    machine's other load changes far less than it changes requests/s."""
    redis_cpu_us: float | None = None
    """redis-server's CPU time per request (INFO cpu), for the Redis store."""


def wrk_script(workdir: Path, method: str) -> Path:
    path = workdir / f"wrk-{method.lower()}.lua"
    body = json.dumps({"messages": [MESSAGE]})
    path.write_text(WRK_SCRIPT % {"sessions": WRK_SESSIONS, "body": body, "method": method})
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port: int, script: Path, seconds: float) -> WrkResult:
    """One wrk run: one thread (the machine has two cores, the server needs one)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    failed = re.search(r"Socket errors:.*", out)
    errors = int(bad.group(1)) if bad else 0
    if failed:
        errors += sum(int(n) for n in re.findall(r"\d+", failed.group(0)))
    return WrkResult(rate, p50, p99, errors, done)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its live children (`--workers N`'s) have used so
    far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(cpu_seconds(int(kid)) for kid in kids)


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_benchmark(redis_proc: RedisServer, requests: int) -> dict[str, float]:
    """redis-benchmark's requests/s for LPUSH and LRANGE_100 with 16 clients: what the
    redis-server itself answers on this machine, a bound no server in front of it passes."""
    out = subprocess.run(
        ["redis-benchmark", "-p", str(redis_proc.port), "-c", str(WRK_CONNECTIONS),
         "-n", str(requests), "-t", "lpush,lrange_100", "--dbnum", "9", "--csv"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    rates: dict[str, float] = {}
    for row in csv.DictReader(out.splitlines()):
        # the first LPUSH row is the LPUSH test; a second fills the list for LRANGE
        rates.setdefault(row["test"].split(" ")[0], float(row["rps"]))
    redis.Redis(port=redis_proc.port, db=9).flushdb()
    return {"POST": rates["LPUSH"], "GET": rates["LRANGE_100"]}


def external_load(
    redis_proc: RedisServer, workdir: Path, seconds: float, repeat: int, baselines: list[Path]
) -> tuple[dict[tuple[str, str, str], list[WrkResult]], dict[str, list[float]]]:
    """Each (store, code) server in turn, POST then GET under wrk; the codes alternate
    order every round so that the machine's noise hits both alike."""
    for tool in ("wrk", "redis-benchmark"):
        if shutil.which(tool) is None:
            raise SystemExit(f"measurement 4 needs {tool} on PATH (apt-get install {tool})")
    scripts = {op: wrk_script(workdir, op) for op in ("POST", "GET")}
    codes: list[tuple[str, Path | None]] = [("this tree", None)]
    codes += [(f"baseline {tree.name}", tree) for tree in baselines]
    results: dict[tuple[str, str, str], list[WrkResult]] = {}
    limits: dict[str, list[float]] = {"POST": [], "GET": []}
    probe = redis.Redis(port=redis_proc.port)
    for round_ in range(repeat):
        for op, rate in redis_benchmark(redis_proc, 100_000).items():
            limits[op].append(rate)
        order = codes if round_ % 2 == 0 else list(reversed(codes))
        for store in ("sqlite", "redis", "redis --workers 2"):
            for label, code in order:
                redis_proc.flush()
                db = workdir / f"wrk-{store}-{round_}-{codes.index((label, code))}.db"
                args = [*store_args(store, redis_proc, db), "--no-summarize"]
                with serve(args, code=code) as proc:
                    for op in ("POST", "GET"):
                        probe.config_resetstat()
                        cpu, redis_cpu = cpu_seconds(proc.proc.pid), redis_cpu_seconds(probe)
                        result = run_wrk(proc.port, scripts[op], seconds)
                        result.cpu_us = (cpu_seconds(proc.proc.pid) - cpu) * 1e6 / result.requests
                        if store.startswith("redis"):
                            stats = probe.info("commandstats").get("cmdstat_evalsha")
                            result.script_us = stats["usec_per_call"] if stats else None
                            spent = redis_cpu_seconds(probe) - redis_cpu
                            result.redis_cpu_us = spent * 1e6 / result.requests
                        results.setdefault((store, op, label), []).append(result)
    probe.close()
    return results, limits


def report_external(
    results: dict[tuple[str, str, str], list[WrkResult]],
    limits: dict[str, list[float]],
    seconds: float,
) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    limit = {op: median(rates) for op, rates in limits.items()}
    labels = list(dict.fromkeys(label for _, _, label in results))
    rows = []
    for (store, op, label), runs in results.items():
        rate = median([r.rate for r in runs])
        cpu = median([r.cpu_us for r in runs if r.cpu_us is not None])
        ours = results.get((store, op, labels[0]))
        versus = ""
        if label != labels[0] and ours:
            our_cpu = median([r.cpu_us for r in ours if r.cpu_us is not None])
            versus = f"{median([r.rate for r in ours]) / rate:.2f}x / {our_cpu / cpu:.2f}x"
        script = [r.script_us for r in runs if r.script_us is not None]
        redis_cpu = [r.redis_cpu_us for r in runs if r.redis_cpu_us is not None]
        rows.append([
            store, op, label, fmt(rate), " / ".join(fmt(r.rate) for r in runs),
            fmt(median([r.p50_ms for r in runs])), fmt(median([r.p99_ms for r in runs])),
            str(sum(r.errors for r in runs)), f"{TARGET_RATE:,}",
            f"{fmt(limit[op])} ({100 * rate / limit[op]:.0f}%)",
            f"{cpu:.0f}", f"{fmt(1e6 / cpu)}",
            f"{median(redis_cpu):.0f}" if redis_cpu else "",
            f"{median(script):.1f}" if script else "", versus,
        ])  # fmt: skip
    print_table(
        f"4. wrk, {WRK_CONNECTIONS} connections, {seconds:g}s a run, medians of "
        f"{len(next(iter(results.values())))} (one server process; POSTs over "
        f"{WRK_SESSIONS} sessions)",
        ["store", "op", "code", "req/s", "runs", "p50 ms", "p99 ms", "errors", "target",
         "limit: redis-benchmark", "cpu us/req", "req/cpu-s", "redis cpu us/req",
         "script us/call", "this/baseline: req/s, cpu"],
        rows,
    )  # fmt: skip
    print(
        "   limit: redis-benchmark -c 16 -t lpush,lrange_100 on the same redis-server "
        "(LPUSH for POST, LRANGE_100 for GET), medians.\n"
        "   cpu us/req: the server process's CPU per request; req/cpu-s: what one fully "
        "busy core would serve at that cost (steadier than req/s on a shared machine);\n"
        "   redis cpu us/req: redis-server's CPU per request (INFO cpu); script us/call: "
        "EVALSHA usec_per_call (INFO commandstats);\n"
        "   this/baseline: this tree's req/s over the baseline's, then this tree's CPU per "
        "request over the baseline's (the cost ratio: below 1, this tree is cheaper)."
    )


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


def report_rates(
    title: str, rows: list[tuple[str, str, int, Result]], reference: str, total: int
) -> None:
    """Measurements 1 and 5: each row's rate beside the `reference` store's at the same
    operation and concurrency (raw redis-py for 1, one Redis for the cluster's 5)."""
    base = {(op, level): r.rate for store, op, level, r in rows if store == reference}
    print_table(
        f"{title} ({total} requests per row; one server process; window {WINDOW})",
        ["store", "op", "clients", "req/s", "p50 ms", "p99 ms", f"% of {reference}"],
        [
            [store, op, str(level), fmt(r.rate), fmt(r.pct(0.5)), fmt(r.pct(0.99)),
             f"{100 * r.rate / base[(op, level)]:.0f}%"]
            for store, op, level, r in rows
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
        choices=[1, 2, 3, 4, 5],
        help="run one measurement (default: 1-4; 5 is the Redis Cluster's, which needs redis-cli)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="measurement 4 also serves from this source tree (e.g. a git worktree of an "
        "older commit), back to back with this one; may be given more than once",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of measurement 4 (medians are shown)"
    )
    options = parser.parse_args()
    parts = [options.only] if options.only else [1, 2, 3, 4]
    for tree in options.baseline:
        if not (tree / "chatcli").is_dir():
            parser.error(f"--baseline {tree}: no chatcli package there")
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
                report_rates(
                    "1. Throughput",
                    throughput(redis_proc, workdir, levels, total),
                    "raw redis-py",
                    total,
                )
            if 2 in parts:
                report_summarizing(post_while_summarizing(redis_proc, workdir, total, rounds, llm))
            if 3 in parts:
                report_sizes(latency_by_size(redis_proc, workdir, sizes, total // 2))
            if 4 in parts:
                seconds = 3.0 if options.quick else 8.0
                found = external_load(
                    redis_proc, workdir, seconds, options.repeat, options.baseline
                )
                report_external(*found, seconds)
            if 5 in parts:
                report_rates(
                    "5. Redis Cluster",
                    cluster_throughput(redis_proc, levels, total),
                    "redis",
                    total,
                )
    finally:
        llm.stop()
    print(
        "\nTargets: per process >= 25% of the raw Redis rate; POST p99 while summarizing "
        "<= 1.2x idle; latency flat from 1k to 1M stored messages; under wrk >= "
        f"{TARGET_RATE:,} req/s per process."
    )
    print(f"(ran in {time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
