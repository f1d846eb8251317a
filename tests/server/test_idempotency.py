"""Retries that never duplicate: a POST with an Idempotency-Key is stored at most once,
whatever server or replica it reaches again, and a client that sends no key sees
Motörhead's behaviour unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatcli.memory.http import MotorheadClient
from tests.server.conftest import Live, live_server
from tests.support.lossy_proxy import LossyProxy
from tests.support.procs import RedisServer, start_serve

ONE = {"messages": [{"role": "Human", "content": "hello"}]}
OTHER = {"messages": [{"role": "Human", "content": "something else"}]}


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


def stored(server: Live, session_id: str) -> list[dict[str, str]]:
    return server.client.get(f"/sessions/{session_id}/memory").json()["messages"]


def post(server: Live, session_id: str, body: object, key: str | None, **params: str):
    headers = {} if key is None else {"Idempotency-Key": key}
    return server.client.post(
        f"/sessions/{session_id}/memory", json=body, headers=headers, params=params
    )


def test_the_same_key_twice_appends_once(live: Live) -> None:
    sid, key = live.new_id(), new_key()
    post(live, sid, ONE, key)
    post(live, sid, ONE, key)
    assert stored(live, sid) == ONE["messages"]


def test_a_repeated_key_answers_as_the_first_request(live: Live) -> None:
    sid, key = live.new_id(), new_key()
    first = post(live, sid, ONE, key)
    again = post(live, sid, ONE, key)
    assert (
        (first.status_code, first.json())
        == (again.status_code, again.json())
        == (200, {"status": "Ok"})
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def test_the_same_key_with_another_body_is_a_409_that_writes_nothing(live: Live) -> None:
    sid, key = live.new_id(), new_key()
    post(live, sid, ONE, key)
    before = live.fingerprint()
    refused = post(live, sid, OTHER, key)
    assert refused.status_code == 409
    assert "different body" in refused.json()["error"]
    assert live.fingerprint() == before


def test_the_same_key_for_another_session_is_a_409_that_writes_nothing(live: Live) -> None:
    key = new_key()
    post(live, live.new_id(), ONE, key)
    before = live.fingerprint()
    refused = post(live, live.new_id(), ONE, key)
    assert refused.status_code == 409
    assert "another session" in refused.json()["error"]
    assert live.fingerprint() == before


def test_the_same_key_in_another_namespace_is_a_409(live: Live) -> None:
    sid, key = live.new_id(), new_key()
    post(live, sid, ONE, key, namespace="ns-a")
    assert post(live, sid, ONE, key, namespace="ns-b").status_code == 409


def test_posts_without_a_key_append_every_time(live: Live) -> None:
    sid = live.new_id()
    post(live, sid, ONE, None)
    post(live, sid, ONE, None)
    assert stored(live, sid) == ONE["messages"] * 2


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_a_400_that_writes_nothing(live: Live, key: str) -> None:
    before = live.fingerprint()
    headers = {"Idempotency-Key": key.encode("latin-1")}
    refused = live.client.post(f"/sessions/{live.new_id()}/memory", json=ONE, headers=headers)
    assert refused.status_code == 400
    assert "Idempotency-Key" in refused.json()["error"]
    assert live.fingerprint() == before


def test_a_key_of_255_printable_characters_is_taken(live: Live) -> None:
    sid = live.new_id()
    assert post(live, sid, ONE, "~ !" + "k" * 252).status_code == 200


@pytest.fixture(params=["sqlite", "redis"])
def forgetful(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """A server that keeps keys for a millisecond."""
    with live_server(request.param, tmp_path, request, idempotency_ttl=0.001) as server:
        yield server


def test_a_key_is_forgotten_after_the_retention_period(forgetful: Live) -> None:
    sid, key = forgetful.new_id(), new_key()
    post(forgetful, sid, ONE, key)
    time.sleep(0.05)
    post(forgetful, sid, ONE, key)
    assert stored(forgetful, sid) == ONE["messages"] * 2


def test_two_replicas_on_one_redis_append_a_repeated_key_once(
    redis_proc: RedisServer, tmp_path: Path
) -> None:
    args = ["--store", "redis", "--redis-url", redis_proc.url]
    env = {"REDIS_URL": "", "PORT": "", "CHATCLI_CONFIG_DIR": str(tmp_path / "config")}
    one = start_serve(args, env=env, log_dir=tmp_path)
    try:
        two = start_serve(args, env=env, log_dir=tmp_path)
        try:
            sid, key = f"replica-{uuid.uuid4().hex}", new_key()
            for replica in (one, two):
                answer = httpx.post(
                    f"{replica.url}/sessions/{sid}/memory",
                    json=ONE,
                    headers={"Idempotency-Key": key},
                )
                assert answer.status_code == 200
            memory = httpx.get(f"{two.url}/sessions/{sid}/memory").json()
            assert memory["messages"] == ONE["messages"]
        finally:
            two.stop()
    finally:
        one.stop()


@pytest.mark.parametrize("how", ["503", "close"])
def test_the_clients_retry_after_a_lost_answer_appends_once(live: Live, how: str) -> None:
    sid = live.new_id()
    with LossyProxy(live.url, lose=1, how=how) as proxy, MotorheadClient(proxy.url) as client:
        client.append(sid, [("Human", "hello")])
    assert stored(live, sid) == ONE["messages"]
    assert proxy.forwarded_posts == 2
    assert proxy.keys[0] is not None and proxy.keys[0] == proxy.keys[1]


def test_the_client_sends_a_fresh_key_per_append(live: Live) -> None:
    sid = live.new_id()
    with LossyProxy(live.url, lose=0) as proxy, MotorheadClient(proxy.url) as client:
        client.append(sid, [("Human", "hello")])
        client.append(sid, [("Human", "hello")])
    assert len(set(proxy.keys)) == 2
    assert stored(live, sid) == ONE["messages"] * 2
