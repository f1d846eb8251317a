"""A store that stops answering, as clients and the operator see it: a JSON 503 on a
connection that stays usable, that names no host, port or path, and one log line."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from chatcli.config import ServerSettings
from chatcli.server.app import create_app
from chatcli.server.redis_store import RedisStore, lost_connection
from chatcli.server.sqlite_store import SQLiteStore
from chatcli.server.store import Store
from chatcli.server.threaded import ThreadedServer
from tests.support.procs import redis_server

BODY = {"messages": [{"role": "Human", "content": "hi"}]}


@contextmanager
def serving(store: Store) -> Iterator[httpx.Client]:
    """The real app under uvicorn, and a client whose pool holds one connection."""
    app = create_app(store, ServerSettings(), None)
    with ThreadedServer(app) as url:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=url, limits=limits, timeout=10) as client:
            yield client


def local_port(response: httpx.Response) -> int:
    """The client side of the connection that carried the response."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


@contextmanager
def redis_gone() -> Iterator[tuple[httpx.Client, int]]:
    """A server on a redis-server of this test's own, which is stopped once it is up."""
    with redis_server() as redis_proc, serving(RedisStore(redis_proc.url)) as client:
        assert client.post("/sessions/before/memory", json=BODY).status_code == 200
        redis_proc.proc.terminate()
        redis_proc.proc.wait(10)
        yield client, redis_proc.port


@contextmanager
def sqlite_gone(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """A server whose SQLite file is replaced by a directory before its first request,
    so every connection it opens fails."""
    path = tmp_path / "memory.db"
    store = SQLiteStore(path)
    for leftover in tmp_path.glob("memory.db*"):
        leftover.unlink()
    path.mkdir()
    try:
        with serving(store) as client:
            yield client, path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_two_posts_on_one_connection_both_get_a_json_503_when_redis_is_down() -> None:
    with redis_gone() as (client, _):
        first = client.post("/sessions/s1/memory", json=BODY)
        second = client.post("/sessions/s1/memory", json=BODY)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json() == second.json() == {"error": "the memory store is unavailable"}


def test_the_connection_stays_open_after_a_503() -> None:
    with redis_gone() as (client, _):
        first = client.post("/sessions/s1/memory", json=BODY)
        first_port = local_port(first)
        second = client.post("/sessions/s1/memory", json=BODY)
        second_port = local_port(second)
    assert first.headers.get("connection") != "close"
    assert first_port == second_port


def test_the_503_does_not_name_the_redis_port() -> None:
    with redis_gone() as (client, port):
        response = client.post("/sessions/s1/memory", json=BODY)
        listed = client.get("/sessions")
    assert response.status_code == listed.status_code == 503
    assert str(port) not in response.text
    assert str(port) not in listed.text


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_log() -> Iterator[list[logging.LogRecord]]:
    """The server logger's records, caught on the logger itself: the embedded server
    may have stopped it propagating to the root, where caplog listens."""
    logger = logging.getLogger("chatcli.server")
    handler = Records()
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def test_the_server_log_gets_one_line_naming_redis_and_no_traceback() -> None:
    with server_log() as records, redis_gone() as (client, port):
        client.post("/sessions/s1/memory", json=BODY)
    failures = [r for r in records if r.levelno >= logging.ERROR]
    assert len(failures) == 1
    assert str(port) in failures[0].getMessage()
    assert "\n" not in failures[0].getMessage()
    assert failures[0].exc_info is None


def test_a_sqlite_file_that_cannot_be_opened_gets_a_json_503_on_a_connection_that_stays(
    tmp_path: Path,
) -> None:
    with sqlite_gone(tmp_path) as (client, _):
        first = client.post("/sessions/s1/memory", json=BODY)
        first_port = local_port(first)
        second = client.get("/sessions/s1/memory")
        second_port = local_port(second)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json() == second.json() == {"error": "the memory store is unavailable"}
    assert first_port == second_port


def test_the_sqlite_503_does_not_name_the_file(tmp_path: Path) -> None:
    with sqlite_gone(tmp_path) as (client, path):
        response = client.post("/sessions/s1/memory", json=BODY)
    assert response.status_code == 503
    assert str(path) not in response.text
    assert "memory.db" not in response.text


def raised_in(*filenames: str, error: type[Exception] = AttributeError) -> BaseException:
    """An `error` raised in code compiled as the last of `filenames`, called through code
    compiled as each of the ones before it."""
    namespace: dict = {"error": error}
    exec(compile("def call(w):\n    raise error('closed')\n", filenames[-1], "exec"), namespace)
    for filename in reversed(filenames[:-1]):
        inner = namespace["call"]
        namespace = {"inner": inner}
        exec(compile("def call(w):\n    inner(w)\n", filename, "exec"), namespace)
    try:
        namespace["call"](None)
    except error as exc:
        return exc
    raise AssertionError("no error raised")


REDIS_CONNECTION = "/venv/site-packages/redis/asyncio/connection.py"


def test_a_transport_closed_under_redis_pys_connection_counts_as_redis_unavailable() -> None:
    assert lost_connection(raised_in(REDIS_CONNECTION))


def test_uvloops_closed_handler_under_redis_pys_connection_counts_as_redis_unavailable() -> None:
    exc = raised_in(REDIS_CONNECTION, "uvloop/handles/stream.pyx", error=RuntimeError)
    assert lost_connection(exc)


def test_an_attribute_error_in_chatclis_own_code_is_not_taken_for_a_lost_connection() -> None:
    assert not lost_connection(raised_in("/repo/chatcli/server/redis_store.py"))


def test_an_asyncio_error_that_never_passed_through_redis_py_is_not_a_lost_connection() -> None:
    exc = raised_in("/repo/chatcli/server/app.py", "/usr/lib/python3/asyncio/streams.py")
    assert not lost_connection(exc)
