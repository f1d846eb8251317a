"""What a client can make the server hold before the app sees a request, and how the HTTP
layer answers on its own: every refusal is `{"error": ...}` and closes the connection, so
no unauthenticated client can hold memory or sockets. Raw sockets, because no HTTP client
sends what these tests send."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import API_KEY, Live, live_server

HEADER_LIMIT = 8 * 1024
HEADER_TIMEOUT = 0.5
CONNECTION_CAP = 3
READ_TIMEOUT = 20.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool

    def error(self) -> str:
        assert self.headers.get("content-type") == "application/json", self.headers
        message = json.loads(self.body)["error"]
        assert isinstance(message, str) and message
        return message


def port_of(live: Live) -> int:
    port = urlsplit(live.url).port
    assert port is not None
    return port


@contextlib.contextmanager
def connect(live: Live) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", port_of(live)), timeout=READ_TIMEOUT) as sock:
        yield sock


def read_answer(sock: socket.socket) -> Answer:
    """One response; `closed` says whether the server then closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    rest = body[length:]
    closed = False
    if headers.get("connection") == "close" and not rest:
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:  # closed with the rest of a huge request unread
            closed = True
    return Answer(int(lines[0].split()[1]), headers, body[:length], closed)


def ask(live: Live, raw: bytes) -> Answer:
    with connect(live) as sock:
        sock.sendall(raw)
        return read_answer(sock)


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Live]:
    """A keyed server with small header limits, so the tests send little to pass them."""
    tmp = tmp_path_factory.mktemp("limited")
    with live_server(
        "sqlite",
        tmp,
        request,
        api_key=API_KEY,
        max_header_bytes=HEADER_LIMIT,
        header_timeout=HEADER_TIMEOUT,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def capped(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Live]:
    """A server that takes at most CONNECTION_CAP connections at once."""
    tmp = tmp_path_factory.mktemp("capped")
    with live_server("sqlite", tmp, request, max_connections=CONNECTION_CAP) as server:
        server.client.close()
        yield server


def get_with_header(size: int) -> bytes:
    return b"GET / HTTP/1.1\r\nhost: x\r\nx-filler: " + b"a" * size + b"\r\n\r\n"


# --- header size --------------------------------------------------------------------------


def test_headers_over_the_limit_are_431_before_the_key_is_checked(limited: Live) -> None:
    answer = ask(limited, get_with_header(HEADER_LIMIT + 1000).replace(b"GET /", b"GET /sessions"))
    assert answer.status == 431
    assert "server.max_header_bytes" in answer.error()
    assert answer.closed


def test_headers_within_the_limit_are_served(limited: Live) -> None:
    answer = ask(limited, get_with_header(HEADER_LIMIT - 200))
    assert answer.status == 200, answer.body


def test_a_header_that_never_ends_is_431_once_it_passes_the_limit(limited: Live) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-filler: " + b"a" * (HEADER_LIMIT + 1000))
        answer = read_answer(sock)
    assert answer.status == 431
    assert answer.closed


def test_many_headers_count_together(limited: Live) -> None:
    many = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 100) for i in range(HEADER_LIMIT // 100))
    answer = ask(limited, b"GET / HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
    assert answer.status == 431


def test_the_default_limit_refuses_a_header_of_a_megabyte(live: Live) -> None:
    answer = ask(live, get_with_header(1024 * 1024))
    assert answer.status == 431
    assert "65536" in answer.error()


def test_a_100k_character_path_is_refused_as_json(live: Live) -> None:
    answer = ask(live, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert answer.status in (400, 414, 431)
    answer.error()


# --- header time --------------------------------------------------------------------------


def test_headers_that_stall_are_408_and_the_connection_is_closed(limited: Live) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: a")
        answer = read_answer(sock)
    assert answer.status == 408
    assert "server.header_timeout" in answer.error()
    assert answer.closed


def test_a_connection_that_sends_nothing_is_closed(limited: Live) -> None:
    with connect(limited) as sock:
        assert sock.recv(1) == b""


def test_the_next_request_on_a_kept_alive_connection_is_timed_too(limited: Live) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_answer(sock).status == 200
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: a")
        assert read_answer(sock).status == 408


def test_a_body_is_not_limited_by_the_header_timeout(limited: Live) -> None:
    """The deadline is for the head only: a complete head is answered however long after."""
    with connect(limited) as sock:
        body = b'{"messages": []}'
        sock.sendall(
            b"POST /sessions/slow-body/memory HTTP/1.1\r\nhost: x\r\nx-api-key: %s\r\n"
            b"content-length: %d\r\n\r\n%s" % (API_KEY.encode(), len(body), body[:-1])
        )
        sock.settimeout(HEADER_TIMEOUT * 3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(READ_TIMEOUT)
        sock.sendall(body[-1:])
        assert read_answer(sock).status == 200


# --- connections ---------------------------------------------------------------------------


def test_connections_over_the_cap_get_503_as_json(capped: Live) -> None:
    with contextlib.ExitStack() as stack:
        for _ in range(CONNECTION_CAP):
            sock = stack.enter_context(connect(capped))
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert read_answer(sock).status == 200
        answer = ask(capped, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert answer.status == 503
    assert "server.max_connections" in answer.error()
    assert answer.closed


def test_a_closed_connection_frees_its_place(capped: Live) -> None:
    for _ in range(CONNECTION_CAP * 3):
        status = 0
        for _attempt in range(100):
            status = ask(capped, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").status
            if status == 200:
                break
        assert status == 200


# --- malformed HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /sessions/x/memory HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n"
        b"content-length: 3\r\n\r\n{}",
        b"POST /sessions/x/memory HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n"
        b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\rhost: x\r\r",
        b"GET / HTTP/1.1\r\nho st: x\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["duplicate-length", "length-and-chunked", "bare-cr", "space-in-name", "garbage"],
)
def test_malformed_http_is_400_as_json_and_closed(live: Live, raw: bytes) -> None:
    answer = ask(live, raw)
    assert answer.status == 400
    assert "malformed HTTP" in answer.error()
    assert answer.closed


def test_a_good_request_after_a_refused_one_is_served(live: Live) -> None:
    ask(live, b"NOT HTTP AT ALL\r\n\r\n")
    assert live.client.get("/").status_code == 200


# --- 405 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", {"GET"}),
        ("/sessions", {"GET"}),
        ("/sessions/x/memory", {"GET", "POST", "DELETE"}),
        ("/sessions/x/retrieval", {"POST"}),
    ],
)
def test_405_allows_every_method_the_path_takes(live: Live, path: str, allowed: set[str]) -> None:
    response = live.client.request("PATCH", path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert response.json()["error"]


def test_every_allowed_method_is_really_taken(live: Live) -> None:
    allow = live.client.put("/sessions/x/memory").headers["allow"]
    for method in (m.strip() for m in allow.split(",")):
        response = live.client.request(method, "/sessions/x/memory", json={"messages": []})
        assert response.status_code != 405, method


def test_httpx_still_talks_to_the_limited_server(limited: Live) -> None:
    response = httpx.get(limited.url + "/sessions", headers={"x-api-key": API_KEY})
    assert response.status_code == 200


# --- a response's head goes out with its body (http_limits.HeadWithBody) ---------------------


def test_a_post_that_expects_100_continue_gets_it_before_it_sends_its_body(live: Live) -> None:
    """The interim 100 is written at once, never held for the answer that follows it."""
    body = b'{"messages": [{"role": "Human", "content": "after the 100"}]}'
    with connect(live) as sock:
        sock.sendall(
            b"POST /sessions/expects-continue/memory HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\nexpect: 100-continue\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        assert read_answer(sock).status == 100
        sock.sendall(body)
        assert read_answer(sock).status == 200
    memory = httpx.get(live.url + "/sessions/expects-continue/memory").json()
    assert memory["messages"] == [{"role": "Human", "content": "after the 100"}]


def test_a_head_request_gets_its_head_though_no_body_follows(live: Live) -> None:
    with connect(live) as sock:
        sock.sendall(b"HEAD /sessions HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer: {data!r}"
            data += chunk
    assert data.startswith(b"HTTP/1.1 ")
    assert data.endswith(b"\r\n\r\n")


def test_kept_alive_answers_arrive_whole_one_after_another(live: Live) -> None:
    with connect(live) as sock:
        for n in range(3):
            sock.sendall(b"GET /sessions/kept-%d/memory HTTP/1.1\r\nhost: x\r\n\r\n" % n)
            answer = read_answer(sock)
            assert (answer.status, json.loads(answer.body)["messages"]) == (200, [])
