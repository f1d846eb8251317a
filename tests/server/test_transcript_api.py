"""chatcli's transcript routes over HTTP, on SQLite, a real Redis and a real Redis Cluster:
the record kept under Motörhead's window, one message at a time, fork and import. Bad input
is refused with a 4xx `{"error"}` and writes nothing (the whole store is compared before and
after)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import ALL_STORES, WINDOW, Live

pytestmark = pytest.mark.parametrize("live", ALL_STORES, indirect=True, scope="module")
ID = re.compile(r"[0-9a-hjkmnp-tv-z]{16}")
UNKNOWN = "0000000000zzzzzz"


def post(live: Live, session: str, *contents: str) -> None:
    messages = [
        {"role": "Human" if i % 2 == 0 else "AI", "content": c} for i, c in enumerate(contents)
    ]
    response = live.client.post(f"/sessions/{session}/memory", json={"messages": messages})
    assert response.status_code == 200, response.text


def transcript(live: Live, session: str, **params: Any) -> dict[str, Any]:
    response = live.client.get(f"/sessions/{session}/transcript", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def texts(page: dict[str, Any]) -> list[str]:
    return [m["content"] for m in page["messages"]]


def window(live: Live, session: str) -> list[str]:
    response = live.client.get(f"/sessions/{session}/memory")
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()["messages"]]


def ids(live: Live, session: str) -> list[str]:
    return [m["id"] for m in transcript(live, session)["messages"]]


@pytest.fixture
def unchanged(live: Live) -> Iterator[None]:
    before = live.fingerprint()
    yield
    assert live.fingerprint() == before, "a refused request wrote to the store"


def refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for word in words:
        assert word in error, error


# --- the transcript ---------------------------------------------------------------------


def test_the_transcript_keeps_what_the_window_no_longer_holds(live: Live) -> None:
    session = live.new_id()
    posted = [f"m{i}" for i in range(WINDOW + 3)]
    post(live, session, *posted)
    assert texts(transcript(live, session)) == posted
    assert len(window(live, session)) == WINDOW


def test_each_transcript_message_has_id_role_content_time_and_summarized(live: Live) -> None:
    session = live.new_id()
    post(live, session, "hello")
    (message,) = transcript(live, session)["messages"]
    assert set(message) == {"id", "role", "content", "created_at", "summarized"}
    assert ID.fullmatch(message["id"])
    assert (message["role"], message["content"], message["summarized"]) == ("Human", "hello", False)
    assert isinstance(message["created_at"], int) and message["created_at"] > 1_600_000_000_000


def test_the_transcript_pages_by_cursor_until_next_is_null(live: Live) -> None:
    session = live.new_id()
    post(live, session, *(str(i) for i in range(5)))
    pages, after = [], None
    while True:
        page = transcript(live, session, limit=2, **({"after": after} if after else {}))
        pages.append(texts(page))
        after = page["next"]
        if after is None:
            break
    assert pages == [["0", "1"], ["2", "3"], ["4"]]


def test_the_transcript_of_an_unknown_session_is_an_empty_page(live: Live) -> None:
    assert transcript(live, live.new_id()) == {"messages": [], "next": None, "namespace": None}


def test_one_message_can_be_read_by_id(live: Live) -> None:
    session = live.new_id()
    post(live, session, "a", "b")
    second = transcript(live, session)["messages"][1]
    response = live.client.get(f"/sessions/{session}/messages/{second['id']}")
    assert response.status_code == 200 and response.json() == second


def test_delete_of_a_message_removes_it_from_transcript_and_window(live: Live) -> None:
    session = live.new_id()
    post(live, session, "a", "b", "c")
    response = live.client.delete(f"/sessions/{session}/messages/{ids(live, session)[1]}")
    assert (response.status_code, response.json()) == (200, {"status": "Ok"})
    assert texts(transcript(live, session)) == ["a", "c"]
    assert window(live, session) == ["c", "a"]


def test_edit_of_a_message_changes_transcript_and_window(live: Live) -> None:
    session = live.new_id()
    post(live, session, "a", "b")
    first = ids(live, session)[0]
    response = live.client.patch(f"/sessions/{session}/messages/{first}", json={"content": "A"})
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("id", "role", "content")} == {
        "id": first,
        "role": "Human",
        "content": "A",
    }
    assert texts(transcript(live, session)) == ["A", "b"]
    assert window(live, session) == ["b", "A"]


def test_fork_copies_the_messages_up_to_at_with_the_same_ids(live: Live) -> None:
    session, forked = live.new_id(), live.new_id("fork")
    post(live, session, "a", "b", "c")
    at = ids(live, session)[1]
    response = live.client.post(f"/sessions/{session}/fork", json={"to": forked, "at": at})
    assert response.json() == {"status": "Ok", "session": forked, "messages": 2}
    assert ids(live, forked) == ids(live, session)[:2]
    assert window(live, forked) == ["b", "a"]


def test_a_whole_fork_is_listed_as_a_session(live: Live) -> None:
    session, forked = live.new_id(), live.new_id("fork")
    post(live, session, "a")
    response = live.client.post(
        f"/sessions/{session}/fork", params={"namespace": "forks"}, json={"to": forked}
    )
    assert response.status_code == 200, response.text
    assert forked in live.client.get("/sessions", params={"namespace": "forks"}).json()


def test_fork_into_a_session_with_data_is_409_and_writes_nothing(live: Live) -> None:
    session, other = live.new_id(), live.new_id()
    post(live, session, "a")
    post(live, other, "mine")
    before = live.fingerprint()
    response = live.client.post(f"/sessions/{session}/fork", json={"to": other})
    refused(response, 409, other)
    assert live.fingerprint() == before


def test_import_keeps_ids_and_times_and_twice_adds_nothing(live: Live) -> None:
    source, target = live.new_id(), live.new_id("copy")
    post(live, source, "a", "b")
    exported = transcript(live, source)["messages"]
    body = {"messages": exported, "context": None}
    first = live.client.post(f"/sessions/{target}/transcript", json=body)
    second = live.client.post(f"/sessions/{target}/transcript", json=body)
    assert first.json() == {"status": "Ok", "added": 2, "skipped": 0}
    assert second.json() == {"status": "Ok", "added": 0, "skipped": 2}
    assert transcript(live, target)["messages"] == exported


def test_delete_of_the_session_removes_its_transcript(live: Live) -> None:
    session = live.new_id()
    post(live, session, "a")
    assert live.client.delete(f"/sessions/{session}/memory").status_code == 200
    assert transcript(live, session)["messages"] == []


def test_the_openapi_docs_tag_the_transcript_routes_as_chatcli_extensions(live: Live) -> None:
    paths = live.client.get("/openapi.json").json()["paths"]
    route = paths["/sessions/{session_id}/transcript"]
    assert route["get"]["tags"] == ["chatcli extensions"]
    assert paths["/sessions/{session_id}/memory"]["get"]["tags"] == ["Motörhead API"]


# --- bad input ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def held(live: Live) -> tuple[str, str]:
    """A session with two messages, and its first message id."""
    session = live.new_id("held")
    post(live, session, "a", "b")
    return session, ids(live, session)[0]


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "9" * 30])
def test_a_bad_cursor_is_400(live: Live, held: tuple[str, str], after: str) -> None:
    response = live.client.get(f"/sessions/{held[0]}/transcript", params={"after": after})
    refused(response, 400, "cursor")


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_bad_limit_is_400(live: Live, held: tuple[str, str], limit: str) -> None:
    response = live.client.get(f"/sessions/{held[0]}/transcript", params={"limit": limit})
    refused(response, 400, "limit")


@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unknown_message_is_404(
    live: Live, held: tuple[str, str], unchanged: None, method: str
) -> None:
    response = getattr(live.client, method)(f"/sessions/{held[0]}/messages/{UNKNOWN}")
    refused(response, 404, UNKNOWN)


def test_a_message_of_another_session_is_404(
    live: Live, held: tuple[str, str], unchanged: None
) -> None:
    response = live.client.delete(f"/sessions/{live.new_id()}/messages/{held[1]}")
    refused(response, 404, held[1])


def test_editing_an_unknown_message_is_404(
    live: Live, held: tuple[str, str], unchanged: None
) -> None:
    response = live.client.patch(f"/sessions/{held[0]}/messages/{UNKNOWN}", json={"content": "x"})
    refused(response, 404)


@pytest.mark.parametrize(
    "body", [{"content": ""}, {"content": "  "}, {"content": 3}, {}, ["x"]], ids=str
)
def test_a_bad_edit_is_400(live: Live, held: tuple[str, str], unchanged: None, body: Any) -> None:
    response = live.client.patch(f"/sessions/{held[0]}/messages/{held[1]}", json=body)
    refused(response, 400, "content" if isinstance(body, dict) else "object")


def test_a_bad_message_id_is_400(live: Live, held: tuple[str, str], unchanged: None) -> None:
    response = live.client.delete(f"/sessions/{held[0]}/messages/bad%20id")
    refused(response, 400, "message id")


@pytest.mark.parametrize(
    "body",
    [{}, {"to": "bad id"}, {"to": "fine", "at": 5}, {"to": "fine", "at": "bad id"}],
    ids=str,
)
def test_a_bad_fork_is_400(live: Live, held: tuple[str, str], unchanged: None, body: Any) -> None:
    refused(live.client.post(f"/sessions/{held[0]}/fork", json=body), 400)


def test_a_fork_into_itself_is_409(live: Live, held: tuple[str, str], unchanged: None) -> None:
    refused(live.client.post(f"/sessions/{held[0]}/fork", json={"to": held[0]}), 409, "another")


def test_a_fork_at_an_unknown_message_is_404(
    live: Live, held: tuple[str, str], unchanged: None
) -> None:
    body = {"to": live.new_id(), "at": UNKNOWN}
    refused(live.client.post(f"/sessions/{held[0]}/fork", json=body), 404, UNKNOWN)


def test_a_fork_of_an_unknown_session_is_404(live: Live, unchanged: None) -> None:
    response = live.client.post(f"/sessions/{live.new_id()}/fork", json={"to": live.new_id()})
    refused(response, 404)


GOOD_MESSAGE = {"id": "01abc00000000001", "role": "Human", "content": "x", "created_at": 1}


@pytest.mark.parametrize(
    "message",
    [
        {k: v for k, v in GOOD_MESSAGE.items() if k != "id"},
        {**GOOD_MESSAGE, "id": "bad id"},
        {**GOOD_MESSAGE, "created_at": 1.5},
        {**GOOD_MESSAGE, "created_at": True},
        {**GOOD_MESSAGE, "role": "A: B"},
        {**GOOD_MESSAGE, "summarized": "yes"},
    ],
    ids=["no-id", "bad-id", "float-time", "bool-time", "role-separator", "summarized-string"],
)
def test_a_bad_import_is_400(live: Live, unchanged: None, message: dict[str, Any]) -> None:
    response = live.client.post(
        f"/sessions/{live.new_id()}/transcript", json={"messages": [GOOD_MESSAGE, message]}
    )
    refused(response, 400, "messages[1]")


def test_an_import_with_one_id_twice_adds_it_once(live: Live) -> None:
    session = live.new_id()
    response = live.client.post(
        f"/sessions/{session}/transcript", json={"messages": [GOOD_MESSAGE, GOOD_MESSAGE]}
    )
    assert response.json() == {"status": "Ok", "added": 1, "skipped": 1}
    assert ids(live, session) == [GOOD_MESSAGE["id"]]
