"""`chatcli serve` as a user runs it: a real child process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import RedisServer, ServeProcess, free_port, start_serve

NEUTRAL = {
    name: ""
    for name in (
        "PORT",
        "REDIS_URL",
        "MOTORHEAD_MAX_WINDOW_SIZE",
        "MOTORHEAD_MODEL",
        "MOTORHEAD_LONG_TERM_MEMORY",
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "OPENAI_BASE_URL",
        "CHATCLI_SERVER_API_KEY",
        "CHATCLI_SERVER_STORE",
        "CHATCLI_SERVER_DB",
        "CHATCLI_CONFIG",
        "NO_COLOR",
    )
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with no user config and none of the variables serve reads."""
    return {
        **NEUTRAL,
        "CHATCLI_DATA_DIR": str(tmp_path / "data"),
        "CHATCLI_CONFIG_DIR": str(tmp_path / "config"),
        "NO_COLOR": "1",
    }


def serve(args: list[str], env: dict[str, str], tmp_path: Path) -> ServeProcess:
    return start_serve(args, env=env, log_dir=tmp_path)


def run_serve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A serve expected to refuse to start: its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "chatcli", "serve", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatcli: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def stopped(served: ServeProcess, sig: signal.Signals) -> int:
    served.proc.send_signal(sig)
    return served.proc.wait(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One server for the tests that only look at it: --db, --window 7, no summaries."""
    tmp = tmp_path_factory.mktemp("served")
    environment = {
        **NEUTRAL,
        "CHATCLI_DATA_DIR": str(tmp / "data"),
        "CHATCLI_CONFIG_DIR": str(tmp / "config"),
        "NO_COLOR": "1",
    }
    process = start_serve(
        ["--db", str(tmp / "mem.db"), "--window", "7", "--no-summarize"],
        env=environment,
        log_dir=tmp,
    )
    yield process
    process.stop()


def test_the_start_line_shows_url_store_window_and_summarizer(served: ServeProcess) -> None:
    log = served.log.read_text()
    start = next(line for line in log.splitlines() if line.startswith("chatcli serve:"))
    assert f"http://127.0.0.1:{served.port}" in start
    assert f"sqlite {served.log.parent / 'mem.db'}" in start
    assert "window 7" in start
    assert "summarizer off" in start
    assert f"{served.url}/docs" in start


def test_each_request_is_logged_on_one_line(served: ServeProcess) -> None:
    httpx.get(f"{served.url}/sessions/logged/memory")
    assert '"GET /sessions/logged/memory HTTP/1.1" 200' in served.log.read_text()


def test_sigterm_stops_it_with_exit_0(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], env, tmp_path)
    assert stopped(served, signal.SIGTERM) == 0


def test_ctrl_c_stops_it_with_exit_0(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], env, tmp_path)
    assert stopped(served, signal.SIGINT) == 0
    assert "Traceback" not in served.log.read_text()


def test_the_default_store_is_sqlite_in_the_data_dir(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], env, tmp_path)
    try:
        body = {"messages": [{"role": "Human", "content": "hi"}]}
        assert httpx.post(f"{served.url}/sessions/d/memory", json=body).status_code == 200
    finally:
        served.stop()
    assert (tmp_path / "data" / "memory.db").exists()


def test_a_port_in_use_is_a_one_line_error_with_exit_1(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(["--port", str(port), "--no-summarize"], env)
    assert result.returncode == 1
    assert "in use" in one_line_error(result)


def test_a_public_address_without_a_key_is_refused_with_exit_2(env: dict[str, str]) -> None:
    result = run_serve(["--host", "0.0.0.0", "--port", str(free_port())], env)
    assert result.returncode == 2
    assert "--api-key" in one_line_error(result)


def test_an_unreachable_redis_is_a_one_line_error_naming_the_fix(env: dict[str, str]) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = run_serve(["--store", "redis", "--redis-url", url, "--port", str(free_port())], env)
    assert result.returncode == 1
    line = one_line_error(result)
    assert "--redis-url" in line
    assert "hunter2" not in line


def test_an_unwritable_db_is_a_one_line_error_naming_the_fix(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    result = run_serve(["--db", str(blocker / "mem.db"), "--port", str(free_port())], env)
    assert result.returncode == 1
    assert "--db" in one_line_error(result)


def test_the_api_key_from_the_environment_is_required(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], {**env, "CHATCLI_SERVER_API_KEY": "s3cret"}, tmp_path)
    try:
        without = httpx.get(f"{served.url}/sessions")
        with_key = httpx.get(f"{served.url}/sessions", headers={"x-api-key": "s3cret"})
    finally:
        served.stop()
    assert without.status_code == 401
    assert with_key.status_code == 200
    assert "s3cret" not in served.log.read_text()


def test_motorheads_redis_url_variable_selects_redis_with_its_layout(
    env: dict[str, str], tmp_path: Path, redis_proc: RedisServer
) -> None:
    import redis

    sid = f"mh-{uuid.uuid4().hex[:8]}"
    served = serve(["--no-summarize"], {**env, "REDIS_URL": redis_proc.url}, tmp_path)
    try:
        body = {"messages": [{"role": "Human", "content": "hi"}, {"role": "AI", "content": "yo"}]}
        httpx.post(f"{served.url}/sessions/{sid}/memory", json=body)
    finally:
        served.stop()
    client = redis.Redis(port=redis_proc.port)
    assert client.lrange(f"session:{sid}", 0, -1) == [b"AI: yo", b"Human: hi"]
    assert "store redis" in served.log.read_text()


def test_motorheads_window_variable_sets_the_window(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], {**env, "MOTORHEAD_MAX_WINDOW_SIZE": "4"}, tmp_path)
    try:
        body = {"messages": [{"role": "Human", "content": str(i)} for i in range(6)]}
        httpx.post(f"{served.url}/sessions/w/memory", json=body)
        got = httpx.get(f"{served.url}/sessions/w/memory").json()["messages"]
    finally:
        served.stop()
    assert [m["content"] for m in got] == ["5", "4", "3", "2"]


def test_a_summarizer_that_cannot_be_built_stops_it_at_start_naming_the_way_out(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.gguf")
    env = {**env, "CHATCLI_LLM_PROVIDER": "local", "CHATCLI_LLM_LOCAL_MODEL_PATH": missing}
    result = run_serve(["--port", str(free_port())], env)
    assert result.returncode == 1
    line = one_line_error(result)
    assert "missing.gguf is not a file" in line
    assert "--no-summarize" in line


def test_serve_answers_retrieval_by_default(env: dict[str, str], tmp_path: Path) -> None:
    served = serve(["--no-summarize"], env, tmp_path)
    try:
        body = {"messages": [{"role": "Human", "content": "bob likes jazz"}]}
        httpx.post(f"{served.url}/sessions/s/memory", json=body)
        response = httpx.post(f"{served.url}/sessions/s/retrieval", json={"text": "bob"})
    finally:
        served.stop()
    assert response.status_code == 200
    assert [hit["content"] for hit in response.json()] == ["bob likes jazz"]
    assert "long-term memory on" in served.log.read_text()


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        pytest.param(["--no-long-term-memory"], {}, id="flag"),
        pytest.param([], {"MOTORHEAD_LONG_TERM_MEMORY": "false"}, id="motorhead-false"),
        pytest.param([], {"MOTORHEAD_LONG_TERM_MEMORY": "1"}, id="motorhead-not-true"),
    ],
)
def test_long_term_memory_turned_off_answers_motorheads_disabled(
    env: dict[str, str], tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    served = serve(["--no-summarize", *args], {**env, **extra}, tmp_path)
    try:
        response = httpx.post(f"{served.url}/sessions/s/retrieval", json={"text": "bob"})
    finally:
        served.stop()
    assert (response.status_code, response.text) == (400, "Long term memory is disabled")
    assert "long-term memory off" in served.log.read_text()


def raw_exchange(served: ServeProcess, raw: bytes) -> tuple[bytes, bytes]:
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as sock:
        sock.sendall(raw)
        reply = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


def test_headers_over_the_default_limit_are_431_as_json(served: ServeProcess) -> None:
    raw = b"GET / HTTP/1.1\r\nhost: x\r\nx-filler: " + b"a" * 100_000 + b"\r\n\r\n"
    head, body = raw_exchange(served, raw)
    assert head.startswith(b"HTTP/1.1 431")
    assert "server.max_header_bytes" in json.loads(body)["error"]


def test_malformed_http_is_400_as_json(served: ServeProcess) -> None:
    raw = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n{}"
    head, body = raw_exchange(served, raw)
    assert head.startswith(b"HTTP/1.1 400")
    assert "malformed HTTP" in json.loads(body)["error"]
