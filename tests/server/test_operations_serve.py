"""Operating `chatcli serve` as a real child process: graceful SIGTERM, `--workers N`.

Where a test needs a request in flight it holds the request's body back on a raw socket,
and where it needs a summary in flight the scripted LLM waits on a gate the test opens:
orderings, never guesses about timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import sqlite_fingerprint
from tests.support import waiting
from tests.support.procs import RedisServer, ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI

WAIT = 30.0
OWN_DB = 11
BLANK = [
    "PORT", "REDIS_URL", "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_MODEL", "OPENAI_BASE_URL",
    "CHATCLI_SERVER_API_KEY", "CHATCLI_SERVER_STORE", "CHATCLI_SERVER_DB", "CHATCLI_CONFIG",
]  # fmt: skip


def isolated(**extra: str) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="chatcli-ops-"))
    return {
        **dict.fromkeys(BLANK, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
        "NO_COLOR": "1",
        **extra,
    }


wait_until = partial(waiting.wait_until, timeout=WAIT, poll=0.05)


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return False
    except OSError:
        return True


def read_until_closed(conn: socket.socket) -> str:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def terminated(served: ServeProcess) -> int:
    served.proc.send_signal(signal.SIGTERM)
    return served.proc.wait(WAIT)


# --- SIGTERM ---------------------------------------------------------------------------


def test_sigterm_lets_an_in_flight_request_finish_then_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    served = start_serve(["--db", str(db), "--no-summarize"], env=isolated(), log_dir=tmp_path)
    try:
        body = json.dumps({"messages": [{"role": "Human", "content": "finished-after-sigterm"}]})
        head = (
            f"POST /sessions/s-inflight/memory HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", served.port), WAIT) as conn:
            conn.sendall(head.encode() + body[:10].encode())
            served.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: refuses_connections(served.port), "the server to stop accepting")
            conn.sendall(body[10:].encode())
            answer = read_until_closed(conn)
        assert answer.startswith("HTTP/1.1 200 "), answer
        assert answer.endswith('{"status":"Ok"}'), answer
        assert served.proc.wait(WAIT) == 0
    finally:
        served.stop()
    assert "finished-after-sigterm" in sqlite_fingerprint(db)()


@pytest.fixture
def gated_llm(scripted_llm: ScriptedOpenAI) -> Iterator[threading.Event]:
    """The scripted LLM answers only once the test opens the gate."""
    opened = threading.Event()
    scripted_llm.responder = lambda prompt: "summary" if opened.wait(WAIT) else "late"
    yield opened
    opened.set()


def test_sigterm_releases_the_compaction_lock_it_holds(
    redis_proc: RedisServer, scripted_llm: ScriptedOpenAI, gated_llm: threading.Event
) -> None:
    env = isolated(
        CHATCLI_LLM="openai", OPENAI_API_BASE=scripted_llm.base_url, OPENAI_API_KEY="sk-test"
    )
    url = redis_proc.own_database(OWN_DB)
    raw = redis.Redis(port=redis_proc.port, db=OWN_DB)
    served = start_serve(["--store", "redis", "--redis-url", url, "--window", "4"], env=env)
    session = f"s-{uuid.uuid4().hex[:12]}"
    lock = f"chatcli:lock:{session}"
    try:
        messages = [{"role": "Human", "content": f"m{i}"} for i in range(5)]
        response = httpx.post(
            f"{served.url}/sessions/{session}/memory", json={"messages": messages}, timeout=WAIT
        )
        assert response.status_code == 200
        wait_until(lambda: raw.exists(lock), "the compaction to take its lock")
        assert terminated(served) == 0
        assert not raw.exists(lock)
        assert raw.llen(f"session:{session}") == 5
    finally:
        served.stop()
        raw.close()


# --- --workers N -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`--workers 2` on a SQLite file, answering with the pid of the worker that answered."""
    tmp = tmp_path_factory.mktemp("workers")
    args = ["--db", str(tmp / "memory.db"), "--no-summarize", "--window", "1000"]
    args += ["--workers", "2", "--log-level", "warning"]
    served = start_serve(args, env=isolated(CHATCLI_SERVER_PID_HEADER="true"), log_dir=tmp)
    yield served
    served.stop()


def answering_pids(served: ServeProcess, want: int, tries: int = 400) -> set[int]:
    """Pids that answered GET /, each over a new connection, until `want` of them did."""
    pids: set[int] = set()
    for _ in range(tries):
        pids.add(int(httpx.get(served.url + "/", timeout=WAIT).headers["x-chatcli-pid"]))
        if len(pids) >= want:
            break
    return pids


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_two_workers_answer_on_one_port_from_two_processes(workers: ServeProcess) -> None:
    pids = answering_pids(workers, 2)
    assert len(pids) == 2
    assert workers.proc.pid not in pids
    assert {parent_of(pid) for pid in pids} == {workers.proc.pid}


def test_posts_from_many_clients_across_workers_are_stored_exactly_once(
    workers: ServeProcess,
) -> None:
    run = uuid.uuid4().hex[:8]

    def client(n: int) -> list[str]:
        session = f"s-{run}-{n}"
        with httpx.Client(base_url=workers.url, timeout=WAIT) as http:
            for i in range(25):
                message = {"role": "Human", "content": f"{n}-{i}"}
                response = http.post(f"/sessions/{session}/memory", json={"messages": [message]})
                assert response.status_code == 200
                # A new connection each time, so the posts spread over both workers.
                http.headers["connection"] = "close"
            memory = http.get(f"/sessions/{session}/memory").json()
        return [m["content"] for m in memory["messages"]]

    with ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(client, range(8)))
    for n, contents in enumerate(stored):
        assert contents == [f"{n}-{i}" for i in reversed(range(25))]


def test_metrics_count_the_requests_of_every_worker(workers: ServeProcess) -> None:
    def served_root() -> float:
        text = httpx.get(workers.url + "/metrics", timeout=WAIT).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "chatcli_http_requests_total"
                    and labels.get("route") == "/"
                    and labels.get("method") == "GET"
                ):
                    return sample.value
        return 0.0

    before = served_root()
    pids = set()
    for _ in range(20):
        pids.add(httpx.get(workers.url + "/", timeout=WAIT).headers["x-chatcli-pid"])
    assert len(pids) == 2, "the requests should have reached both workers"
    assert served_root() == before + 20


def test_sigterm_stops_every_worker_and_exits_0(tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "memory.db"), "--no-summarize", "--workers", "2"]
    served = start_serve(args, env=isolated(CHATCLI_SERVER_PID_HEADER="true"), log_dir=tmp_path)
    try:
        pids = answering_pids(served, 2)
        assert terminated(served) == 0
    finally:
        served.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "memory.db"), "--no-summarize", "--workers", "2"]
    served = start_serve(args, env=isolated(CHATCLI_SERVER_PID_HEADER="true"), log_dir=tmp_path)
    try:
        first = answering_pids(served, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                pids = answering_pids(served, 2, tries=50)
                return len(pids) == 2 and victim not in pids
            return False

        wait_until(replaced, "a new worker")
        assert terminated(served) == 0
    finally:
        served.stop()
