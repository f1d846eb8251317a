"""MotorheadClient against a live `chatcli serve`, and its one-line errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from chatcli.errors import ConfigError, MemoryServerError, UsageError
from chatcli.memory.http import MotorheadClient
from tests.cli.conftest import SERVER_KEY
from tests.support.procs import free_port


def test_health_is_the_servers_clock_in_ms(memory) -> None:
    assert memory.health() > 1_700_000_000_000


def test_messages_come_back_oldest_first(memory, sid) -> None:
    memory.append(sid, [("Human", "a"), ("AI", "b")])
    memory.append(sid, [("Human", "c")])
    assert memory.memory(sid).messages == [("Human", "a"), ("AI", "b"), ("Human", "c")]


def test_the_wire_order_is_newest_first(memory, sid) -> None:
    memory.append(sid, [("Human", "a"), ("AI", "b")])
    assert [m["content"] for m in memory.memory_raw(sid)["messages"]] == ["b", "a"]


def test_an_unknown_session_is_empty(memory) -> None:
    stored = memory.memory("never-written")
    assert (stored.messages, stored.context, stored.is_empty) == ([], None, True)


def test_a_posted_context_is_the_summary(memory, sid) -> None:
    memory.append(sid, [("Human", "a")], context="A summary.")
    assert memory.memory(sid).summary == "A summary."


def test_sessions_are_listed_by_last_write_within_a_namespace(memory, namespace) -> None:
    for name in ("s1", "s2", "s1"):
        memory.append(name, [("Human", "x")], namespace=namespace)
    assert memory.sessions(namespace) == ["s2", "s1"]


def test_delete_removes_messages_and_index_entry(memory, sid, namespace) -> None:
    memory.append(sid, [("Human", "x")], namespace=namespace)
    memory.delete(sid, namespace)
    assert memory.memory(sid).is_empty
    assert memory.sessions(namespace) == []


def test_the_servers_refusal_of_bad_input_is_a_usage_error(memory) -> None:
    with pytest.raises(UsageError) as caught:
        memory.append("bad id", [("Human", "x")])
    message = caught.value.message
    assert message.startswith("the memory server refused it: 400 ")
    assert "invalid session id" in message
    assert "\n" not in message


def test_the_api_key_is_sent_as_x_api_key(keyed_memory_server, sid) -> None:
    with MotorheadClient(keyed_memory_server.url, SERVER_KEY) as client:
        client.append(sid, [("Human", "x")])
        assert client.memory(sid).messages == [("Human", "x")]


def test_a_missing_key_is_refused_with_the_fix(keyed_memory_server) -> None:
    with MotorheadClient(keyed_memory_server.url) as client, pytest.raises(MemoryServerError) as e:
        client.sessions()
    assert e.value.message == (
        f"memory server at {keyed_memory_server.url} refused the API key: "
        "set memory.api_key or CHATCLI_MEMORY_API_KEY"
    )


def test_a_down_server_names_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with MotorheadClient(url) as client, pytest.raises(MemoryServerError) as caught:
        client.health()
    assert caught.value.message == (
        f"memory server at {url} is not answering: start it with `chatcli serve`, "
        "or unset memory.url to use the embedded one"
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_silent_server_times_out_with_the_fix(silent_port) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    with MotorheadClient(url, timeout=0.3) as client, pytest.raises(MemoryServerError) as e:
        client.health()
    assert e.value.message == (
        f"memory server at {url} did not answer within 0.3s: "
        "check that it is healthy, or raise memory.timeout"
    )


def test_a_server_without_the_api_says_so(scripted_llm) -> None:
    """The scripted OpenAI server has no /sessions route: its 404 is passed on in one line."""
    with MotorheadClient(scripted_llm.base_url) as client, pytest.raises(MemoryServerError) as e:
        client.memory("x")
    assert e.value.message == (
        f"memory server at {scripted_llm.base_url} refused GET /sessions/x/memory: 404 not found"
    )


def test_the_managed_data_wrapper_is_unwrapped(motorhead_like) -> None:
    motorhead_like.managed = True
    with MotorheadClient(motorhead_like.url) as client:
        client.append("w", [("Human", "a"), ("AI", "b")])
        assert client.memory("w").messages == [("Human", "a"), ("AI", "b")]
        assert client.sessions() == ["w"]
        assert client.health() > 0


def test_a_connection_the_server_closed_is_replaced_without_resending(motorhead_like) -> None:
    motorhead_like.drop_idle = True
    with MotorheadClient(motorhead_like.url) as client:
        client.append("idle", [("Human", "a")])
        client.append("idle", [("Human", "b")])
        assert client.memory("idle").messages == [("Human", "a"), ("Human", "b")]
    assert [r[0] for r in motorhead_like.requests] == ["POST", "POST", "GET"]


def test_a_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        MotorheadClient("localhost:8080")
    assert caught.value.message.startswith("memory.url 'localhost:8080' is not an http:// or")
