"""Motörhead's long-term memory route, `POST /sessions/{id}/retrieval`, and chatcli's `/search`,
over real servers with the packaged embedding model and a running indexer."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.server.conftest import Live

WAIT = 60.0


def post(live: Live, session_id: str, *messages: tuple[str, str]) -> None:
    body = {"messages": [{"role": r, "content": c} for r, c in messages]}
    response = live.client.post(f"/sessions/{session_id}/memory", json=body)
    assert response.status_code == 200, response.text


def retrieve(live: Live, session_id: str, text: str) -> list[dict]:
    response = live.client.post(f"/sessions/{session_id}/retrieval", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def backlog(live: Live) -> float:
    for line in live.client.get("/metrics").text.splitlines():
        if line.startswith("chatcli_indexing_backlog "):
            return float(line.split()[1])
    raise AssertionError("no chatcli_indexing_backlog in /metrics")


def wait_indexed(live: Live, session_id: str) -> None:
    """Until every message of the session has its vector (read from the store)."""
    deadline = time.monotonic() + WAIT
    while unembedded(live, session_id):
        assert time.monotonic() < deadline, "the indexer did not index the session"
        time.sleep(0.05)


def unembedded(live: Live, session_id: str) -> int:
    """The session's messages without a vector, as the store holds them."""
    if live.redis is not None:
        client, layout = live.redis.client, live.redis.layout
        total = client.zcard(layout.order(session_id))
        held = client.hkeys(layout.recall_docs(session_id))
        return total - sum(1 for field in held if field.startswith(b"m:"))
    with sqlite3.connect(live_db(live)) as conn:
        return conn.execute(
            "SELECT count(*) FROM recall WHERE session_id = ? AND vector IS NULL", (session_id,)
        ).fetchone()[0]


def recall_rows(live: Live, session_id: str) -> int:
    """Messages the store's recall index holds for the session (Redis: its vector hashes,
    Motörhead's motorhead:* on one Redis)."""
    if live.redis is not None:
        return len(vector_hashes(live, session_id))
    with sqlite3.connect(live_db(live)) as conn:
        return conn.execute(
            "SELECT count(*) FROM recall WHERE session_id = ?", (session_id,)
        ).fetchone()[0]


def keyword_entries(live: Live, word: str) -> int:
    """Keyword entries holding `word` (Redis keeps none of its own: the hashes' content)."""
    if live.redis is not None:
        return sum(1 for h in vector_hashes(live, None) if word in h[b"content"].decode())
    with sqlite3.connect(live_db(live)) as conn:
        return conn.execute(
            "SELECT count(*) FROM recall_fts WHERE recall_fts MATCH ?", (word,)
        ).fetchone()[0]


def vector_hashes(live: Live, session_id: str | None) -> list[dict[bytes, bytes]]:
    assert live.redis is not None
    held = live.redis.vector_hashes()
    return [h for h in held if session_id is None or h[b"session"] == session_id.encode()]


def live_db(live: Live) -> Path:
    assert live.db is not None
    return live.db


def test_retrieval_answers_role_content_and_dist(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "my sister lives in Lisbon"), ("AI", "Lisbon is lovely"))
    found = retrieve(recalling, sid, "where does my sister live?")
    assert found and all(set(hit) == {"role", "content", "dist"} for hit in found)
    assert all(isinstance(hit["dist"], float) for hit in found)
    assert found[0]["role"] == "Human"
    assert found[0]["content"] == "my sister lives in Lisbon"


def test_retrieval_is_ordered_nearest_first(recalling: Live) -> None:
    sid = recalling.new_id()
    post(
        recalling,
        sid,
        ("Human", "the cat sat on the mat"),
        ("Human", "my cat is called Tom and Tom likes the mat"),
        ("Human", "stock prices fell today"),
    )
    wait_indexed(recalling, sid)
    dists = [hit["dist"] for hit in retrieve(recalling, sid, "cat Tom mat")]
    assert dists == sorted(dists)


def test_retrieval_answers_at_most_ten(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, *[("Human", f"apples number {i}") for i in range(25)])
    assert len(retrieve(recalling, sid, "apples")) == 10


def test_retrieval_searches_only_its_session(recalling: Live) -> None:
    mine, theirs = recalling.new_id(), recalling.new_id()
    post(recalling, mine, ("Human", "I keep bees"))
    post(recalling, theirs, ("Human", "I keep bees too, and goats"))
    wait_indexed(recalling, theirs)
    found = retrieve(recalling, mine, "bees and goats")
    assert [hit["content"] for hit in found] == ["I keep bees"]


def test_retrieval_of_an_unknown_session_is_empty(recalling: Live) -> None:
    assert retrieve(recalling, recalling.new_id(), "anything") == []


def test_retrieval_covers_messages_compaction_would_keep_in_the_window(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "the newest thing I said is about kayaks"))
    assert retrieve(recalling, sid, "kayaks")[0]["content"].endswith("kayaks")


def test_a_message_is_found_by_keyword_before_it_has_a_vector(keyword_only: Live) -> None:
    sid = keyword_only.new_id()
    post(keyword_only, sid, ("Human", "the wifi password is hunter2"), ("AI", "noted"))
    found = retrieve(keyword_only, sid, "what is the wifi password")
    assert found[0]["content"] == "the wifi password is hunter2"


def test_a_message_sharing_no_word_is_found_once_it_has_its_vector(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "I adopted a puppy"))
    wait_indexed(recalling, sid)
    assert [hit["content"] for hit in retrieve(recalling, sid, "dog")] == ["I adopted a puppy"]


def test_forgetting_a_message_removes_it_from_recall(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "my locker code is 4471"), ("Human", "unrelated"))
    wait_indexed(recalling, sid)
    first = recalling.client.get(f"/sessions/{sid}/transcript").json()["messages"][0]
    assert recalling.client.delete(f"/sessions/{sid}/messages/{first['id']}").status_code == 200
    assert all("4471" not in hit["content"] for hit in retrieve(recalling, sid, "locker code"))
    assert (recall_rows(recalling, sid), keyword_entries(recalling, "4471")) == (1, 0)


def test_clearing_a_session_removes_its_keyword_entries_and_vectors(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "zebrafish aquarium notes"))
    wait_indexed(recalling, sid)
    assert recalling.client.delete(f"/sessions/{sid}/memory").status_code == 200
    assert retrieve(recalling, sid, "zebrafish") == []
    assert (recall_rows(recalling, sid), keyword_entries(recalling, "zebrafish")) == (0, 0)


def test_an_edited_message_is_found_by_its_new_words_only(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "my car is a volvo"))
    wait_indexed(recalling, sid)
    mid = recalling.client.get(f"/sessions/{sid}/transcript").json()["messages"][0]["id"]
    edited = recalling.client.patch(
        f"/sessions/{sid}/messages/{mid}", json={"content": "my car is a saab"}
    )
    assert edited.status_code == 200
    wait_indexed(recalling, sid)
    assert retrieve(recalling, sid, "saab")[0]["content"] == "my car is a saab"
    assert keyword_entries(recalling, "volvo") == 0


BAD_BODIES = [
    pytest.param(b"{not json", id="malformed"),
    pytest.param(b"[]", id="not-an-object"),
    pytest.param(b"{}", id="no-text"),
    pytest.param(b'{"text": 5}', id="text-a-number"),
    pytest.param(b'{"text": null}', id="text-null"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_bad_retrieval_body_is_a_json_400(recalling: Live, body: bytes) -> None:
    response = recalling.client.post(f"/sessions/{recalling.new_id()}/retrieval", content=body)
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_bad_retrieval_body_is_refused_before_saying_long_term_memory_is_off(
    live: Live, body: bytes
) -> None:
    response = live.client.post(f"/sessions/{live.new_id()}/retrieval", content=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_retrieval_with_long_term_memory_off_is_motorheads_plain_400(live: Live) -> None:
    response = live.client.post(f"/sessions/{live.new_id()}/retrieval", json={"text": "x"})
    assert (response.status_code, response.text) == (400, "Long term memory is disabled")
    assert response.headers["content-type"].startswith("text/plain")


def test_search_across_sessions_names_session_id_and_time(recalling: Live) -> None:
    one, two = recalling.new_id(), recalling.new_id()
    post(recalling, one, ("Human", "quokka sighting on Rottnest"))
    post(recalling, two, ("AI", "a quokka is a small wallaby"))
    response = recalling.client.post("/search", json={"text": "quokka"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["session_id"] for r in results if "quokka" in r["content"]} == {one, two}
    transcript = recalling.client.get(f"/sessions/{one}/transcript").json()["messages"][0]
    mine = next(r for r in results if r["session_id"] == one)
    assert (mine["id"], mine["time"], mine["role"]) == (
        transcript["id"],
        transcript["created_at"],
        "Human",
    )


def test_search_within_one_session(recalling: Live) -> None:
    one, two = recalling.new_id(), recalling.new_id()
    post(recalling, one, ("Human", "narwhal tusks"))
    post(recalling, two, ("Human", "narwhal songs"))
    body = {"text": "narwhal", "session_id": two}
    results = recalling.client.post("/search", json=body).json()["results"]
    assert {r["session_id"] for r in results} == {two}


def test_search_honours_its_limit(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, *[("Human", f"pelican {i}") for i in range(8)])
    body = {"text": "pelican", "session_id": sid, "limit": 3}
    assert len(recalling.client.post("/search", json=body).json()["results"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"text": "x", "limit": 0},
        {"text": "x", "limit": 101},
        {"text": "x", "limit": "5"},
        {"text": "x", "session_id": 7},
        {"text": "x", "session_id": "a/b"},
        {"session_id": None},
    ],
)
def test_a_bad_search_body_is_a_json_400(recalling: Live, body: dict) -> None:
    response = recalling.client.post("/search", json=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_search_with_long_term_memory_off_is_a_json_400(live: Live) -> None:
    response = live.client.post("/search", json={"text": "x"})
    assert response.status_code == 400
    assert "long-term memory is disabled" in response.json()["error"]


def test_the_backlog_gauge_falls_to_zero_once_indexed(recalling: Live) -> None:
    sid = recalling.new_id()
    post(recalling, sid, ("Human", "gauge me"))
    wait_indexed(recalling, sid)
    deadline = time.monotonic() + WAIT
    while backlog(recalling) != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
