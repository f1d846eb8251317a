"""Export/import throughput (measured, not asserted): `python bench/transfer.py [--messages N]`.

A generated export of N messages (default 5000) in 10 sessions goes through the real
commands (Typer's CliRunner, in this process) into each memory: the embedded file (no
server, DirectClient), a `chatcli serve` on SQLite and one on Redis. For each: the
import, the same import again (every message skipped), and an export of what arrived;
messages per second of each, best of three runs, each on a fresh memory.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typer.testing import CliRunner  # noqa: E402

from bench.server import serve  # noqa: E402
from chatcli.cli import app  # noqa: E402
from chatcli.memory.session import TranscriptMessage  # noqa: E402
from chatcli.transfer import header_line, message_line  # noqa: E402
from tests.support.procs import redis_server  # noqa: E402

SESSIONS = 10
RUNS = 3


def write_export(path: Path, messages: int) -> list[str]:
    """The export file; the session ids it holds."""
    ids = [f"bench-{n}" for n in range(SESSIONS)]
    each = messages // SESSIONS
    with path.open("w", encoding="utf-8") as out:
        for n, session in enumerate(ids):
            out.write(header_line(session, None, "A summary of the early turns.", 42) + "\n")
            for i in range(each):
                message = TranscriptMessage(
                    f"m{n:02d}-{i:06d}",
                    ("Human", "AI")[i % 2],
                    f"message {i} of session {n}: a line of ordinary length, with ümlauts",
                    1_700_000_000_000 + i,
                    i < each - 12,
                )
                out.write(message_line(message) + "\n")
    return ids


def command(env: dict[str, str | None], *args: str) -> float:
    """Seconds the command took; it must succeed."""
    start = time.perf_counter()
    result = CliRunner().invoke(app, list(args), env=env)
    took = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"chatcli {' '.join(args)} failed: {result.output}")
    return took


def measure(
    name: str, fresh: Callable[[int], dict[str, str | None]], file: Path, ids: list[str], n: int
) -> None:
    best = {"import": float("inf"), "import again": float("inf"), "export": float("inf")}
    for run in range(RUNS):
        env = fresh(run)
        best["import"] = min(best["import"], command(env, "import", str(file)))
        best["import again"] = min(best["import again"], command(env, "import", str(file)))
        out = file.with_suffix(f".{name}.{run}.out")
        best["export"] = min(best["export"], command(env, "export", *ids, "-o", str(out)))
    figures = ", ".join(f"{step} {n / seconds:,.0f}/s" for step, seconds in best.items())
    print(f"{name:<14} {figures}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_proc:
        root = Path(tmp)
        file = root / "export.jsonl"
        ids = write_export(file, options.messages)
        n = len(ids) * (options.messages // SESSIONS)
        print(f"{n} messages in {len(ids)} sessions, best of {RUNS} runs", flush=True)
        base: dict[str, str | None] = {
            "CHATCLI_CONFIG_DIR": str(root / "config"),
            "CHATCLI_MEMORY_NAMESPACE": None,
        }

        def embedded(run: int) -> dict[str, str | None]:
            return {
                **base,
                "CHATCLI_DATA_DIR": str(root / f"embedded-{run}"),
                "CHATCLI_MEMORY_URL": None,
            }

        measure("embedded file", embedded, file, ids, n)
        for store in ("sqlite", "redis"):
            with contextlib.ExitStack() as stack:
                urls = [
                    stack.enter_context(
                        serve([*serve_args(store, root, redis_proc.port, run), "--no-summarize"])
                    ).url
                    for run in range(RUNS)
                ]
                measure(f"serve {store}", partial(on_server, base, urls), file, ids, n)


def serve_args(store: str, root: Path, redis_port: int, run: int) -> list[str]:
    """Each run on a memory of its own: a file, or a Redis database."""
    if store == "sqlite":
        return ["--store", "sqlite", "--db", str(root / f"serve-{run}.db")]
    return ["--store", "redis", "--redis-url", f"redis://127.0.0.1:{redis_port}/{run}"]


def on_server(base: dict[str, str | None], urls: list[str], run: int) -> dict[str, str | None]:
    return {**base, "CHATCLI_MEMORY_URL": urls[run]}


if __name__ == "__main__":
    main()
