"""How one large POST affects everyone else (measured, not asserted): `python bench/edges.py`.

Starts `chatcli serve` (SQLite, no summaries) and, while one client sends a body of the
server's maximum size (4 MiB), another asks `GET /` every few milliseconds on its own
keep-alive connection. Prints the POST's status and time and the GET latencies seen while
it ran (p50, p99, max), for three bodies: ~150k empty messages (the worst case for parsing
and validation), the same capped at a count the server accepts, and one 4 MiB message.
The machine has two cores shared by client and server: read the figures relative to each
other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.procs import start_serve  # noqa: E402

MAX_BODY = 4 * 1024 * 1024
EMPTY = b'{"role":"","content":""}'


def many_messages(count: int) -> bytes:
    return b'{"messages": [' + b",".join([EMPTY] * count) + b"]}"


def bodies() -> list[tuple[str, bytes]]:
    most = (MAX_BODY - 20) // (len(EMPTY) + 1)
    one = json.dumps({"messages": [{"role": "Human", "content": "x" * (MAX_BODY - 100)}]})
    return [
        (f"{most} empty messages", many_messages(most)),
        ("1000 empty messages", many_messages(1000)),
        ("one 4 MiB message", one.encode()),
    ]


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes = b""
) -> int:
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def measure(port: int, body: bytes, sid: str) -> tuple[int, float, list[float]]:
    """POST `body` once while GET / runs back to back; the GET latencies during the POST."""
    get_r, get_w = await asyncio.open_connection("127.0.0.1", port)
    post_r, post_w = await asyncio.open_connection("127.0.0.1", port)
    get_head = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"
    await request(get_r, get_w, get_head)
    post_head = (
        f"POST /sessions/{sid}/memory HTTP/1.1\r\nhost: bench\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await request(get_r, get_w, get_head)
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.002)

    poller = asyncio.create_task(poll())
    start = time.perf_counter()
    status = await request(post_r, post_w, post_head, body)
    took = time.perf_counter() - start
    done.set()
    await poller
    for writer in (get_w, post_w):
        writer.close()
    return status, took, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="POSTs per body (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        served = start_serve(["--db", str(db), "--no-summarize", "--log-level", "warning"])
        try:
            print(
                f"{'body':<24} {'status':>6} {'POST s':>7} {'GET p50 ms':>10} "
                f"{'GET p99 ms':>10} {'GET max ms':>10}"
            )
            for label, body in bodies():
                for run in range(args.runs):
                    status, took, lat = asyncio.run(measure(served.port, body, f"b{run}"))
                    ms = sorted(x * 1000 for x in lat) or [0.0]
                    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
                    print(
                        f"{label:<24} {status:>6} {took:>7.2f} {statistics.median(ms):>10.1f} "
                        f"{p99:>10.1f} {ms[-1]:>10.1f}"
                    )
        finally:
            served.stop()


if __name__ == "__main__":
    main()
