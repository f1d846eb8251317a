"""The Motörhead API as clients see it, over HTTP, on both stores (shared/motorhead-api.md)."""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest

from tests.server.conftest import API_KEY, WINDOW, Live


def post(live: Live, sid: str, *pairs: tuple[str, str], **extra: object) -> None:
    body = {"messages": [{"role": r, "content": c} for r, c in pairs], **extra}
    response = live.client.post(f"/sessions/{quote(sid, safe='')}/memory", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Ok"}


def memory(live: Live, sid: str) -> dict:
    response = live.client.get(f"/sessions/{quote(sid, safe='')}/memory")
    assert response.status_code == 200, response.text
    return response.json()


def pairs(data: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in data["messages"]]


def test_health_check_answers_the_time_in_milliseconds(live: Live) -> None:
    response = live.client.get("/")
    assert response.status_code == 200
    now = response.json()["now"]
    assert isinstance(now, int)
    assert abs(now - time.time() * 1000) < 3_600_000


def test_unknown_session_is_empty_not_404(live: Live) -> None:
    assert memory(live, live.new_id()) == {"messages": [], "context": None, "tokens": 0}


def test_messages_come_back_newest_first(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", "hi im bob"), ("AI", "Hi Bob"))
    assert pairs(memory(live, sid)) == [("AI", "Hi Bob"), ("Human", "hi im bob")]


def test_later_posts_go_ahead_of_earlier_ones(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", "a"), ("AI", "b"))
    post(live, sid, ("Human", "c"), ("AI", "d"))
    assert [c for _, c in pairs(memory(live, sid))] == ["d", "c", "b", "a"]


def test_get_returns_at_most_the_window_newest_messages(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, *[("Human", str(i)) for i in range(WINDOW + 3)])
    contents = [c for _, c in pairs(memory(live, sid))]
    assert contents == [str(i) for i in range(WINDOW + 2, 2, -1)]


def test_context_in_a_post_replaces_the_summary(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", "a"), context="first summary")
    post(live, sid, ("Human", "b"), context="second summary")
    assert memory(live, sid)["context"] == "second summary"


def test_a_post_without_context_keeps_the_summary(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", "a"), context="kept")
    post(live, sid, ("Human", "b"))
    post(live, sid, ("Human", "c"), context=None)
    assert memory(live, sid)["context"] == "kept"


def test_a_post_with_no_messages_is_accepted(live: Live) -> None:
    sid = live.new_id()
    post(live, sid)
    assert memory(live, sid)["messages"] == []


def test_tokens_start_at_zero(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", "a"))
    assert memory(live, sid)["tokens"] == 0


@pytest.mark.parametrize(
    "content",
    [
        "",
        "plain",
        "Role: looks like a role",
        "line one\nline two\r\n\ttabbed",
        "émoji 🤘 and 日本語 and RTL שלום",
        "\u0000 nul and \u2028 separators",
        "x" * 100_000,
    ],
    ids=["empty", "plain", "colon", "newlines", "unicode", "control", "long"],
)
def test_any_content_round_trips_exactly(live: Live, content: str) -> None:
    sid = live.new_id()
    post(live, sid, ("Human", content))
    assert pairs(memory(live, sid)) == [("Human", content)]


@pytest.mark.parametrize("role", ["Human", "AI", "system", "tool:call", "", "Zoë"])
def test_roles_are_free_strings(live: Live, role: str) -> None:
    sid = live.new_id()
    post(live, sid, (role, "text"))
    assert pairs(memory(live, sid)) == [(role, "text")]


@pytest.mark.parametrize(
    "sid",
    ["a", "Z", "7", "x" * 256, "user@example.com", "a:b:c", "a..b", "a.", "A-b_c.d:e@f"],
    ids=[
        "one-letter",
        "capital",
        "digit",
        "256-chars",
        "email",
        "colons",
        "dots",
        "dot-end",
        "mix",
    ],
)
def test_every_accepted_session_id_round_trips_on_every_route(live: Live, sid: str) -> None:
    namespace = live.new_id("ns")
    response = live.client.post(
        f"/sessions/{sid}/memory",
        params={"namespace": namespace},
        json={"messages": [{"role": "Human", "content": "hello"}]},
    )
    assert response.status_code == 200
    assert pairs(memory(live, sid))[0] == ("Human", "hello")
    assert live.client.get("/sessions", params={"namespace": namespace}).json() == [sid]
    assert live.client.post(f"/sessions/{sid}/retrieval", json={"text": "x"}).status_code == 400
    deleted = live.client.delete(f"/sessions/{sid}/memory", params={"namespace": namespace})
    assert deleted.json() == {"status": "Ok"}
    assert memory(live, sid)["messages"] == []
    assert live.client.get("/sessions", params={"namespace": namespace}).json() == []


def test_delete_removes_messages_summary_and_index_entry(live: Live) -> None:
    sid, namespace = live.new_id(), live.new_id("ns")
    live.client.post(
        f"/sessions/{sid}/memory",
        params={"namespace": namespace},
        json={"messages": [{"role": "Human", "content": "a"}], "context": "summary"},
    )
    response = live.client.delete(f"/sessions/{sid}/memory", params={"namespace": namespace})
    assert response.status_code == 200
    assert response.json() == {"status": "Ok"}
    assert memory(live, sid) == {"messages": [], "context": None, "tokens": 0}
    assert live.client.get("/sessions", params={"namespace": namespace}).json() == []


def test_deleting_an_unknown_session_is_ok(live: Live) -> None:
    response = live.client.delete(f"/sessions/{live.new_id()}/memory")
    assert response.status_code == 200
    assert response.json() == {"status": "Ok"}


def test_sessions_are_listed_by_last_write_oldest_first(live: Live) -> None:
    namespace = live.new_id("ns")
    first, second = live.new_id("a"), live.new_id("b")
    for sid in (first, second, first):
        live.client.post(
            f"/sessions/{sid}/memory",
            params={"namespace": namespace},
            json={"messages": [{"role": "Human", "content": "x"}]},
        )
        time.sleep(0.01)
    assert live.client.get("/sessions", params={"namespace": namespace}).json() == [second, first]


def test_sessions_are_paged_with_page_and_size(live: Live) -> None:
    namespace = live.new_id("ns")
    ids = [f"p{i}-{namespace}" for i in range(5)]
    for sid in ids:
        live.client.post(
            f"/sessions/{sid}/memory", params={"namespace": namespace}, json={"messages": []}
        )
        time.sleep(0.01)

    def page(n: int) -> list[str]:
        query = {"namespace": namespace, "page": n, "size": 2}
        return live.client.get("/sessions", params=query).json()

    assert [page(1), page(2), page(3), page(4)] == [ids[0:2], ids[2:4], ids[4:5], []]


def test_a_namespace_has_its_own_index(live: Live) -> None:
    ours, theirs = live.new_id("ns"), live.new_id("ns")
    sid = live.new_id()
    live.client.post(f"/sessions/{sid}/memory", params={"namespace": ours}, json={"messages": []})
    assert live.client.get("/sessions", params={"namespace": ours}).json() == [sid]
    assert live.client.get("/sessions", params={"namespace": theirs}).json() == []
    assert sid not in live.client.get("/sessions", params={"size": 1000}).json()


def test_the_default_index_lists_sessions_posted_without_namespace(fresh: Live) -> None:
    post(fresh, "one", ("Human", "a"))
    time.sleep(0.01)
    post(fresh, "two", ("Human", "b"))
    assert fresh.client.get("/sessions").json() == ["one", "two"]


def test_default_page_size_is_ten(fresh: Live) -> None:
    for i in range(12):
        post(fresh, f"s{i:02d}", ("Human", "x"))
        time.sleep(0.005)
    assert fresh.client.get("/sessions").json() == [f"s{i:02d}" for i in range(10)]


def test_retrieval_says_long_term_memory_is_disabled(live: Live) -> None:
    response = live.client.post(f"/sessions/{live.new_id()}/retrieval", json={"text": "bob"})
    assert response.status_code == 400
    assert response.text == "Long term memory is disabled"


def test_unknown_routes_get_a_json_404(live: Live) -> None:
    response = live.client.get("/nothing/here")
    assert response.status_code == 404
    assert "error" in response.json()


def test_a_wrong_method_gets_a_json_405(live: Live) -> None:
    response = live.client.put(f"/sessions/{live.new_id()}/memory", json={"messages": []})
    assert response.status_code == 405
    assert "error" in response.json()


def test_openapi_docs_are_served(live: Live) -> None:
    assert live.client.get("/docs").status_code == 200
    paths = live.client.get("/openapi.json").json()["paths"]
    assert {"/", "/sessions", "/sessions/{session_id}/memory"} <= set(paths)
    assert {"get", "post", "delete"} <= set(paths["/sessions/{session_id}/memory"])


def test_with_an_api_key_requests_without_it_get_401(keyed: Live) -> None:
    response = keyed.client.get(f"/sessions/{keyed.new_id()}/memory")
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


def test_with_an_api_key_a_wrong_key_gets_401(keyed: Live) -> None:
    response = keyed.client.get("/sessions", headers={"x-api-key": API_KEY + "x"})
    assert response.status_code == 401


def test_a_refused_post_writes_nothing(keyed: Live) -> None:
    before = keyed.fingerprint()
    response = keyed.client.post(
        f"/sessions/{keyed.new_id()}/memory", json={"messages": [{"role": "Human", "content": "x"}]}
    )
    assert response.status_code == 401
    assert keyed.fingerprint() == before


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}],
    ids=["x-api-key", "bearer"],
)
def test_the_api_key_is_accepted_in_either_header(keyed: Live, headers: dict) -> None:
    sid = keyed.new_id()
    body = {"messages": [{"role": "Human", "content": "x"}]}
    assert (
        keyed.client.post(f"/sessions/{sid}/memory", json=body, headers=headers).status_code == 200
    )
    response = keyed.client.get(f"/sessions/{sid}/memory", headers=headers)
    assert response.json()["messages"] == [{"role": "Human", "content": "x"}]


def test_health_check_and_docs_need_no_key(keyed: Live) -> None:
    assert keyed.client.get("/").status_code == 200
    assert keyed.client.get("/docs").status_code == 200
    assert keyed.client.get("/openapi.json").status_code == 200


def test_a_store_that_goes_away_gets_a_json_503_not_a_crash() -> None:
    from chatcli.config import ServerSettings
    from chatcli.server.app import create_app
    from chatcli.server.redis_store import RedisStore
    from chatcli.server.threaded import ThreadedServer
    from tests.support.procs import redis_server

    with redis_server() as redis_proc:
        app = create_app(RedisStore(redis_proc.url), ServerSettings(), None)
        with ThreadedServer(app) as url:
            assert httpx.get(f"{url}/sessions/x/memory").status_code == 200
            redis_proc.proc.terminate()
            redis_proc.proc.wait(10)
            response = httpx.get(f"{url}/sessions/x/memory")
            assert response.status_code == 503
            assert "memory store is unavailable" in response.json()["error"]
            assert httpx.get(f"{url}/").status_code == 200
