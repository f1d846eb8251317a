"""The store failing under a write load, as clients see it: every request gets an HTTP
answer (200, or the store-unavailable 503 in JSON), no connection is reset, and every
message acknowledged with a 200 is there afterwards.

Two faults, each with a `chatcli serve` child and real writers on loopback: Redis killed
with SIGKILL and restarted on its port (its append-only file fsynced on every write, as a
deployment that promises durability runs it), and SQLite's disk filling up (RLIMIT_FSIZE
on the server process, with SIGXFSZ ignored so a write past it fails instead of killing).
The loads are bounded by counts; the waits have deadlines but nothing asserts a duration.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.procs import redis_binary, start_serve, wait_for_port

UNAVAILABLE = {"error": "the memory store is unavailable"}
MAX_REQUESTS_PER_WRITER = 3000
WRITERS = 3
DEADLINE = 60.0


@dataclass
class Load:
    """Writers POSTing unique messages until told to stop, and what they were answered."""

    url: str
    content_bytes: int = 64
    acked: list[tuple[str, str]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    resets: int = 0
    odd_answers: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(WRITERS):
            thread = threading.Thread(
                target=self._write, args=(f"fault-{n}-{uuid.uuid4().hex[:8]}",)
            )
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(DEADLINE)

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if time.monotonic() > deadline or not any(t.is_alive() for t in self._threads):
                raise AssertionError(f"the load never reached: {what} ({self.statuses})")
            time.sleep(0.01)

    def count(self, status: int) -> int:
        with self._lock:
            return self.statuses[status]

    def _write(self, session_id: str) -> None:
        pad = "x" * self.content_bytes
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for n in range(MAX_REQUESTS_PER_WRITER):
                if self.stop.is_set():
                    return
                content = f"{session_id} {n} {pad}"
                body = {"messages": [{"role": "Human", "content": content}]}
                try:
                    answer = client.post(f"/sessions/{session_id}/memory", json=body)
                except httpx.TransportError as exc:
                    with self._lock:
                        self.resets += 1
                        self.odd_answers.append(f"no answer: {exc!r}")
                    continue
                with self._lock:
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        self.acked.append((session_id, content))
                    elif answer.status_code != 503 or answer.json() != UNAVAILABLE:
                        self.odd_answers.append(f"{answer.status_code} {answer.text[:200]}")


def isolated_env(home: Path) -> dict[str, str]:
    blank = ["REDIS_URL", "PORT", "MOTORHEAD_MAX_WINDOW_SIZE"]
    return {
        **dict.fromkeys(blank, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
    }


@contextlib.contextmanager
def durable_redis(port: int, workdir: Path) -> Iterator[subprocess.Popen]:
    """A redis-server whose append-only file is fsynced before every reply."""
    proc = subprocess.Popen(
        [
            str(redis_binary()),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, proc=proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def assert_clean(load: Load) -> None:
    assert load.resets == 0, load.odd_answers[:5]
    assert load.odd_answers == []
    assert set(load.statuses) <= {200, 503}


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="chatcli-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def redis_killed_under_load(workdir: Path) -> tuple[Load, list[str]]:
    """The load's answers, and every message Redis holds after its restart."""
    from tests.support.procs import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    args = ["--store", "redis", "--redis-url", url, "--no-summarize", "--log-level", "warning"]
    with durable_redis(port, workdir) as first:
        serve = start_serve(args, env=isolated_env(workdir), log_dir=workdir)
        load = Load(serve.url)
        try:
            load.start()
            load.wait_for("writes acknowledged", lambda: load.count(200) >= 30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            load.wait_for("503s while Redis is down", lambda: load.count(503) >= 10)
            acked_before = load.count(200)
            with durable_redis(port, workdir):
                load.wait_for(
                    "writes acknowledged after the restart",
                    lambda: load.count(200) >= acked_before + 30,
                )
                load.join()
                raw = redis.Redis(port=port)
                stored = [
                    item.decode()
                    for key in raw.scan_iter(match="session:*")
                    for item in raw.lrange(key, 0, -1)
                ]
        finally:
            load.join()
            serve.stop()
    return load, stored


def test_redis_killed_under_load_resets_no_connection_and_loses_no_acknowledged_write(
    workdir: Path, chaos_report: Callable[[str], None]
) -> None:
    load, stored = redis_killed_under_load(workdir)
    missing = {f"Human: {content}" for _, content in load.acked} - set(stored)
    chaos_report(
        f"Redis SIGKILLed and restarted under a write load: answers {dict(load.statuses)}, "
        f"{load.resets} connections reset, {len(load.acked)} writes acknowledged, "
        f"{len(missing)} lost"
    )
    assert_clean(load)
    assert load.count(503) > 0
    assert missing == set()


FSIZE_LIMIT = 2 * 1024 * 1024
"""Bytes any file the SQLite server writes may reach: its log stays far below it, the
database and its WAL reach it within the load."""


def limit_file_size() -> None:
    """In the server's child process, before it starts: a full disk, as SQLite meets one."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def sqlite_disk_filled_under_load(workdir: Path) -> tuple[Load, list[str], int]:
    """The load's answers, every message in the file after a restart without the limit,
    and the status of a POST to the restarted server."""
    db = workdir / "memory.db"
    args = ["--store", "sqlite", "--db", str(db), "--no-summarize", "--log-level", "warning"]
    env = isolated_env(workdir)
    serve = start_serve(args, env=env, log_dir=workdir, preexec_fn=limit_file_size)
    load = Load(serve.url, content_bytes=4096)
    try:
        load.start()
        load.wait_for("503s once the disk is full", lambda: load.count(503) >= 10)
    finally:
        load.join()
        serve.stop()
    again = start_serve(args, env=env, log_dir=workdir)
    try:
        after = httpx.post(
            f"{again.url}/sessions/after-full/memory",
            json={"messages": [{"role": "Human", "content": "room again"}]},
        ).status_code
        with sqlite3.connect(db) as conn:
            stored = [row[0] for row in conn.execute("SELECT content FROM messages")]
    finally:
        again.stop()
    return load, stored, after


def test_a_full_disk_under_sqlite_answers_503_resets_nothing_and_loses_no_acknowledged_write(
    workdir: Path,
) -> None:
    load, stored, after = sqlite_disk_filled_under_load(workdir)
    assert_clean(load)
    assert load.count(200) > 0
    missing = {content for _, content in load.acked} - set(stored)
    assert missing == set()
    assert after == 200
