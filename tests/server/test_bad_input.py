"""Every kind of bad input gets a 4xx with a JSON `{"error": ...}` naming the problem,
never a 5xx, and writes nothing at all: each test compares the whole backing store
(every SQLite row, every Redis key) before and after the request."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.server.conftest import BODY_LIMIT, Live

GOOD = {"messages": [{"role": "Human", "content": "hello"}]}


@pytest.fixture
def unchanged(live: Live) -> Iterator[None]:
    """Fails the test if the store changed at all while it ran."""
    before = live.fingerprint()
    yield
    assert live.fingerprint() == before, "a refused request wrote to the store"


def refused(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str)
    for word in words:
        assert word in error, error
    return error


def post_raw(live: Live, body: bytes, sid: str = "target") -> httpx.Response:
    return live.client.post(
        f"/sessions/{sid}/memory", content=body, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    "body",
    [b"{", b"{'messages': []}", b'{"messages": [}', b"", b"messages=1", b'{"messages": []}x'],
    ids=["unclosed", "single-quotes", "bad-list", "empty", "form", "trailing"],
)
def test_malformed_json_is_400(live: Live, unchanged: None, body: bytes) -> None:
    refused(post_raw(live, body), 400, "malformed JSON")


def test_a_body_that_is_not_utf8_is_400(live: Live, unchanged: None) -> None:
    refused(post_raw(live, b'{"messages": [{"role": "Human", "content": "\xff"}]}'), 400, "UTF-8")


def test_json_nested_too_deeply_is_400(live: Live, unchanged: None) -> None:
    refused(post_raw(live, b"[" * 100_000 + b"]" * 100_000), 400, "malformed JSON")


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_400(live: Live, unchanged: None, body: str) -> None:
    refused(post_raw(live, body.encode()), 400, "JSON object")


def test_missing_messages_is_400(live: Live, unchanged: None) -> None:
    refused(post_raw(live, b'{"context": "summary only"}'), 400, '"messages"')


@pytest.mark.parametrize("value", ['"hi"', '{"role": "Human"}', "null", "3"])
def test_messages_that_are_not_a_list_are_400(live: Live, unchanged: None, value: str) -> None:
    refused(post_raw(live, f'{{"messages": {value}}}'.encode()), 400, '"messages" must be a list')


@pytest.mark.parametrize("item", ['"Human: hi"', '["Human", "hi"]', "null", "7"])
def test_a_message_that_is_not_an_object_is_400(live: Live, unchanged: None, item: str) -> None:
    refused(post_raw(live, f'{{"messages": [{item}]}}'.encode()), 400, "messages[0]")


@pytest.mark.parametrize(
    "message",
    [
        {"content": "no role"},
        {"role": "Human"},
        {"role": 1, "content": "x"},
        {"role": None, "content": "x"},
        {"role": "Human", "content": 2},
        {"role": "Human", "content": None},
        {"role": "Human", "content": ["a"]},
        {"role": ["AI"], "content": "x"},
    ],
    ids=[
        "no-role",
        "no-content",
        "role-number",
        "role-null",
        "content-number",
        "content-null",
        "content-list",
        "role-list",
    ],
)
def test_role_and_content_must_be_strings(live: Live, unchanged: None, message: dict) -> None:
    error = refused(live.client.post("/sessions/target/memory", json={"messages": [message]}), 400)
    assert "messages[0]" in error and ("role" in error or "content" in error)


def test_a_role_with_a_colon_space_is_400_because_redis_could_not_split_it(
    live: Live, unchanged: None
) -> None:
    body = {"messages": [{"role": "Human: x", "content": "y"}]}
    refused(live.client.post("/sessions/target/memory", json=body), 400, "role")


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [{"role": "Human", "content": "\\ud800"}]}',
        b'{"messages": [{"role": "\\udfff", "content": "x"}]}',
        b'{"messages": [], "context": "a\\ud800b"}',
    ],
)
def test_a_lone_surrogate_escape_is_400_not_a_store_failure(
    live: Live, unchanged: None, body: bytes
) -> None:
    response = live.client.post(
        "/sessions/target/memory", content=body, headers={"content-type": "application/json"}
    )
    refused(response, 400, "lone surrogate")


@pytest.mark.parametrize("context", [1, ["a"], {"a": 1}, True])
def test_context_must_be_a_string_or_null(live: Live, unchanged: None, context: object) -> None:
    body = {**GOOD, "context": context}
    refused(live.client.post("/sessions/target/memory", json=body), 400, '"context"')


def test_one_bad_message_among_good_ones_writes_none_of_them(live: Live, unchanged: None) -> None:
    body = {"messages": [{"role": "Human", "content": "fine"}] * 3 + [{"role": "AI"}]}
    refused(live.client.post("/sessions/target/memory", json=body), 400, "messages[3]")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"page": "abc"}, ["page", "integer"]),
        ({"page": "1.5"}, ["page", "integer"]),
        ({"page": ""}, ["page", "integer"]),
        ({"page": "0"}, ["page", "at least 1"]),
        ({"page": "-3"}, ["page", "at least 1"]),
        ({"page": "101"}, ["page", "at most 100"]),
        ({"page": "99999999999999999999999"}, ["page"]),
        ({"size": "abc"}, ["size", "integer"]),
        ({"size": "0"}, ["size", "at least 1"]),
        ({"size": "-1"}, ["size", "at least 1"]),
        ({"size": "1001"}, ["size", "at most 1000"]),
        ({"size": "18446744073709551616"}, ["size"]),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else "",
)
def test_bad_page_or_size_is_400(live: Live, query: dict, words: list[str]) -> None:
    refused(live.client.get("/sessions", params=query), 400, *words)


BAD_IDS = [
    "a b",
    "a/b",
    "..",
    ".",
    "-lead",
    "_lead",
    ".lead",
    "é",
    "日本",
    "a" * 257,
    "a\nb",
    "a\x00b",
    "a?b",
    "a#b",
    "a%b",
    "a+b",
    " a",
    "a\\b",
]
BAD_ID_NAMES = [
    "space",
    "slash",
    "dotdot",
    "dot",
    "dash-first",
    "underscore-first",
    "dot-first",
    "accent",
    "cjk",
    "257-chars",
    "newline",
    "nul",
    "question",
    "hash",
    "percent",
    "plus",
    "leading-space",
    "backslash",
]
ROUTES = [
    ("GET", "memory"),
    ("POST", "memory"),
    ("DELETE", "memory"),
    ("POST", "retrieval"),
]


@pytest.mark.parametrize("sid", BAD_IDS, ids=BAD_ID_NAMES)
@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m}-{r}" for m, r in ROUTES])
def test_an_odd_session_id_is_refused_on_every_route(
    live: Live, unchanged: None, sid: str, method: str, route: str
) -> None:
    body = GOOD if method == "POST" else None
    response = live.client.request(method, f"/sessions/{quote(sid, safe='')}/{route}", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=[f"{m}-{r}" for m, r in ROUTES])
def test_an_empty_session_id_is_refused_on_every_route(
    live: Live, unchanged: None, method: str, route: str
) -> None:
    body = GOOD if method == "POST" else None
    response = live.client.request(method, f"/sessions//{route}", json=body)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


@pytest.mark.parametrize("namespace", ["", "a b", "ns/x", "é", "-x", "n" * 257])
def test_an_odd_namespace_is_refused_on_post_delete_and_list(
    live: Live, unchanged: None, namespace: str
) -> None:
    query = {"namespace": namespace}
    refused(live.client.post("/sessions/target/memory", params=query, json=GOOD), 400, "namespace")
    refused(live.client.delete("/sessions/target/memory", params=query), 400, "namespace")
    refused(live.client.get("/sessions", params=query), 400, "namespace")


def test_a_body_over_the_limit_is_413(live: Live, unchanged: None) -> None:
    body = {"messages": [{"role": "Human", "content": "x" * BODY_LIMIT}]}
    refused(live.client.post("/sessions/target/memory", json=body), 413, str(BODY_LIMIT))


def test_a_streamed_body_over_the_limit_is_413(live: Live, unchanged: None) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "Human", "content": "'
        for _ in range(BODY_LIMIT // 4096 + 1):
            yield b"x" * 4096
        yield b'"}]}'

    response = live.client.post("/sessions/target/memory", content=chunks())
    refused(response, 413, str(BODY_LIMIT))


def test_a_body_just_within_the_limit_is_accepted(live: Live) -> None:
    frame = json.dumps({"messages": [{"role": "Human", "content": ""}]}).encode()
    content = "x" * (BODY_LIMIT - len(frame))
    body = json.dumps({"messages": [{"role": "Human", "content": content}]}).encode()
    assert len(body) == BODY_LIMIT
    sid = live.new_id()
    assert post_raw(live, body, sid).status_code == 200
    got = live.client.get(f"/sessions/{sid}/memory").json()["messages"]
    assert got == [{"role": "Human", "content": content}]


def test_a_declared_length_far_over_the_limit_is_413_without_reading(
    live: Live, unchanged: None
) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /sessions/target/memory HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{}"
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert "error" in json.loads(body)


def many_messages(count: int) -> bytes:
    return json.dumps({"messages": [{"role": "Human", "content": ""}] * count}).encode()


def test_more_messages_than_the_cap_in_one_post_is_413_naming_the_setting(
    live: Live, unchanged: None
) -> None:
    cap = live.settings.max_messages_per_post
    response = post_raw(live, many_messages(cap + 1))
    refused(response, 413, str(cap), "server.max_messages_per_post", "several POSTs")


def test_as_many_messages_as_the_cap_in_one_post_are_stored(live: Live) -> None:
    sid = live.new_id()
    assert (
        post_raw(live, many_messages(live.settings.max_messages_per_post), sid).status_code == 200
    )
    assert len(live.client.get(f"/sessions/{sid}/memory").json()["messages"]) > 0
