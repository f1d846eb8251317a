"""The CLI's costs, measured, not asserted: `python bench/cli.py [--runs N] [--turns N]`.

Prints one table:
- wall times (median of N runs, each a fresh process) of `chatcli --help`, `sessions` and
  `history` against a running `chatcli serve` and with the embedded default, beside
  `llm --help` (PyPI `llm`, installed into a throwaway venv under /tmp if absent; never
  into this environment);
- chatcli's own per-turn overhead in-process: a whole turn minus the LLM call, with an
  instant scripted OpenAI-compatible LLM (median over many turns), and the memory read and
  write on their own;
- `ask` cold with the bundled local model, split into interpreter start, imports, model
  load and the turn (memory server start, memory read, generation, memory write).

Targets it reports against: --help <= 0.3x `llm --help`; per-turn overhead <= 5 ms
median; `ask` cold with the local model < 2.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatcli.memory.http import MotorheadClient  # noqa: E402
from tests.support.procs import start_serve  # noqa: E402

LLM_VENV = Path("/tmp/chatcli-bench-llm")
BIN = Path(sys.executable).parent
Row = tuple[str, str, str]


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The user's OpenAI/chatcli settings must not leak into the figures."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CHATCLI_", "OPENAI_")) and k != "NO_COLOR"
    }
    env.update(
        {
            "CHATCLI_DATA_DIR": str(data_dir),
            "CHATCLI_CONFIG_DIR": str(data_dir / "config"),
            **extra,
        }
    )
    return env


def wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall seconds of `cmd`, after one warm-up run (page cache, .pyc files)."""
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def llm_binary() -> Path | None:
    """PyPI `llm` in its own venv: the peer CLI whose --help we compare against."""
    binary = LLM_VENV / "bin" / "llm"
    if binary.exists():
        return binary
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LLM_VENV)], check=True)
        subprocess.run(
            [str(LLM_VENV / "bin" / "pip"), "install", "-q", "llm"],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"(could not install llm into {LLM_VENV}: {exc})", file=sys.stderr)
        return None
    return binary if binary.exists() else None


def seed_sessions(url: str, count: int = 20) -> str:
    with MotorheadClient(url) as client:
        for i in range(count):
            turns = [("Human", f"question {j}") if j % 2 == 0 else ("AI", f" answer {j}")
                     for j in range(6)]  # fmt: skip
            client.append(f"bench-{i:02d}", turns, context="Earlier, things were said.")
    return "bench-05"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.2f} ms"


def command_rows(runs: int, work: Path) -> list[Row]:
    rows: list[Row] = []
    chatcli = str(BIN / "chatcli")
    data = work / "data"
    data.mkdir()
    served = start_serve(
        ["--db", str(data / "memory.db"), "--no-summarize"], env=clean_env(data), log_dir=work
    )
    try:
        session = seed_sessions(served.url)
        help_time = wall([chatcli, "--help"], clean_env(data), runs)
        llm = llm_binary()
        llm_time = wall([str(llm), "--help"], clean_env(data), runs) if llm else None
        ratio = f"{help_time / llm_time:.2f}x llm --help" if llm_time else "llm not available"
        rows.append(("chatcli --help", ms(help_time), f"target <= 0.3x llm --help: {ratio}"))
        rows.append(("llm --help (PyPI llm)", ms(llm_time) if llm_time else "n/a", "the peer"))
        python_start = wall([sys.executable, "-c", "pass"], clean_env(data), runs)
        rows.append(("python -c pass", ms(python_start), "the interpreter alone, for scale"))
        served_env = clean_env(data, CHATCLI_MEMORY_URL=served.url)
        for label, env in (("chatcli serve", served_env), ("embedded", clean_env(data))):
            rows.append(
                (f"chatcli sessions ({label})", ms(wall([chatcli, "sessions"], env, runs)), "")
            )
            history = wall([chatcli, "history", session], env, runs)
            rows.append((f"chatcli history X ({label})", ms(history), ""))
    finally:
        served.stop()
    return rows


def turn_rows(turns: int, work: Path) -> list[Row]:
    """A whole turn minus the LLM call, against `chatcli serve` and against a minimal
    stdlib server with only Motörhead's behaviour (what is left is chatcli's own code)."""
    data = work / "turns"
    data.mkdir()
    served = start_serve(
        ["--db", str(data / "memory.db"), "--no-summarize"], env=clean_env(data), log_dir=work
    )
    scripted, base_url = support_process(
        "tests.support.scripted_openai", "ScriptedOpenAI", "base_url"
    )
    minimal, minimal_url = support_process("tests.support.motorhead_like", "MotorheadLike", "url")
    try:
        totals, overheads = time_turns(base_url, served.url, turns)
        _, minimal_overheads = time_turns(base_url, minimal_url, turns)
        reads, writes = time_memory_calls(served.url, turns)
    finally:
        for proc in (scripted, minimal):
            proc.terminate()
            proc.wait(10)
        served.stop()
    return [
        (
            "per-turn overhead (chatcli serve)",
            ms(statistics.median(overheads)),
            f"target <= 5 ms median; turn minus LLM call, {turns} turns, window full",
        ),
        ("  memory read (GET) alone", ms(statistics.median(reads)), "client + chatcli serve"),
        ("  memory write (POST) alone", ms(statistics.median(writes)), "client + chatcli serve"),
        (
            "per-turn overhead (minimal server)",
            ms(statistics.median(minimal_overheads)),
            "same, against tests/support/motorhead_like.py: the CLI's own share",
        ),
        ("whole turn, scripted LLM", ms(statistics.median(totals)), "incl. the LLM's HTTP"),
    ]


def time_turns(llm_url: str, memory_url: str, turns: int) -> tuple[list[float], list[float]]:
    """(whole turns, turns minus the LLM call), timed by LangChain's own callbacks."""
    from langchain_core.callbacks import BaseCallbackHandler

    from chatcli.config import LLMSettings, MemorySettings, Settings
    from chatcli.conversation import Conversation

    class LLMTimer(BaseCallbackHandler):
        def __init__(self) -> None:
            self.start = self.end = 0.0

        def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
            self.end = time.perf_counter()

    settings = Settings(
        llm=LLMSettings(provider="openai", base_url=llm_url, api_key="x", api="completions"),
        memory=MemorySettings(url=memory_url),
    )
    client = MotorheadClient(memory_url)
    conversation = Conversation(settings, client, "bench-turns")
    totals, overheads = [], []
    for i in range(turns + 10):
        timer = LLMTimer()
        start = time.perf_counter()
        conversation.turn(f"question {i}", callbacks=[timer])
        total = time.perf_counter() - start
        if i >= 10:  # the window fills and the connections warm up first
            totals.append(total)
            overheads.append(total - (timer.end - timer.start))
    conversation.close()
    client.close()
    return totals, overheads


def support_process(module: str, cls: str, attr: str) -> tuple[subprocess.Popen, str]:
    """A test server from tests/support in a process of its own, so its threads do not
    compete with the turn being timed for this process's GIL; returns it and its URL."""
    code = (
        "import sys\n"
        f"from {module} import {cls}\n"
        f"print({cls}().start().{attr}, flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def time_memory_calls(url: str, count: int) -> tuple[list[float], list[float]]:
    reads, writes = [], []
    with MotorheadClient(url) as client:
        for i in range(count):
            start = time.perf_counter()
            client.memory("bench-turns")
            reads.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.append("bench-calls", [("Human", f"q{i}"), ("AI", " a")])
            writes.append(time.perf_counter() - start)
    return reads, writes


COLD_DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
from chatcli.cli import app
import langchain_classic.chains, langchain_core.prompts, chatcli.memory.langchain
import chatcli.conversation
import llama_cpp, chatcli.local_llm, chatcli.server.app, chatcli.server.embedded, uvicorn
t1 = time.perf_counter()
from chatcli.config import LLMSettings
from chatcli.local_models import LocalModels
LocalModels().load(LLMSettings(provider="local"))
t2 = time.perf_counter()
try:
    app(["ask", "--llm", "local", "-s", sys.argv[1], "hi im bob"])
except SystemExit as exit:
    assert not exit.code, exit.code
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "load": t2 - t1, "turn": t3 - t2, "in_process": t3 - t0}),
      file=sys.stderr)
"""


def cold_rows(runs: int, work: Path) -> list[Row]:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return [("ask cold, local model", "n/a", "llama-cpp-python is not installed")]
    chatcli = str(BIN / "chatcli")
    walls, parts = [], []
    for i in range(runs):
        data = work / f"cold-{i}"
        data.mkdir()
        env = clean_env(data)
        start = time.perf_counter()
        subprocess.run(
            [chatcli, "ask", "--llm", "local", "hi im bob"],
            env=env,
            capture_output=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COLD_DRIVER, f"cold-{i}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(done.stderr.strip().splitlines()[-1])
        measured["start"] = time.perf_counter() - start - measured["in_process"]
        parts.append(measured)

    def part(name: str) -> float:
        return statistics.median(p[name] for p in parts)

    cold = statistics.median(walls)
    return [
        ("ask cold, local model", ms(cold), f"target < 2.5 s; median of {runs}, embedded memory"),
        ("  interpreter start", ms(part("start")), ""),
        ("  imports", ms(part("imports")), "typer, LangChain, llama.cpp, the server"),
        ("  model load", ms(part("load")), "Gemma 3 270M GGUF"),
        ("  the turn", ms(part("turn")), "memory server start, read, generate, write"),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    value = max(len(r[1]) for r in rows)
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>{value}}  {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--turns", type=int, default=200, help="turns for the overhead")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold `ask` runs (local)")
    parser.add_argument(
        "--only", choices=["commands", "turns", "cold"], action="append", help="run only these"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatcli-bench-"))
    steps: dict[str, Callable[[], list[Row]]] = {
        "commands": lambda: command_rows(args.runs, work),
        "turns": lambda: turn_rows(args.turns, work),
        "cold": lambda: cold_rows(args.cold_runs, work),
    }
    rows: list[Row] = []
    try:
        for name, step in steps.items():
            if not args.only or name in args.only:
                rows += step()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"chatcli bench ({os.cpu_count()} cores, load average {load:.1f} at the end)")
    print_table(rows)


if __name__ == "__main__":
    main()
