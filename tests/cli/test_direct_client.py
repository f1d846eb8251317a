"""The direct client on the embedded file speaks the MemoryClient protocol as the HTTP
client does: the same answers, and the same errors, worded for the user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatcli.config import ServerSettings, Settings
from chatcli.errors import MemoryServerError, UsageError
from chatcli.memory.direct import DirectClient

WINDOW = 4


def settings_on(path: Path) -> Settings:
    return Settings(server=ServerSettings(db=str(path), window=WINDOW))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[DirectClient]:
    with DirectClient(settings_on(tmp_path / "memory.db")) as direct:
        yield direct


def test_what_it_appends_it_reads_back_oldest_first(client: DirectClient) -> None:
    client.append("s1", [("Human", "hi"), ("AI", " hello")], context="Bob said hi.")
    memory = client.memory("s1")
    assert memory.messages == [("Human", "hi"), ("AI", " hello")]
    assert memory.summary == "Bob said hi."


def test_reads_give_at_most_the_window_as_the_server_does(client: DirectClient) -> None:
    client.append("s1", [("Human", str(n)) for n in range(WINDOW + 3)])
    assert len(client.memory_raw("s1")["messages"]) == WINDOW


def test_many_calls_share_the_one_client(client: DirectClient) -> None:
    for n in range(20):
        client.append(f"s{n}", [("Human", "hi")], namespace="ns")
    assert len(client.sessions("ns", 1, 100)) == 20
    client.delete("s0", "ns")
    assert client.memory("s0").is_empty


def test_a_refused_id_is_the_usage_error_the_http_client_gives(client: DirectClient) -> None:
    with pytest.raises(UsageError, match=r"^the memory server refused it: 400 invalid session id"):
        client.memory("no spaces")


def test_a_refused_size_is_the_usage_error_the_http_client_gives(client: DirectClient) -> None:
    with pytest.raises(UsageError, match=r"^the memory server refused it: 400 size must be"):
        client.sessions(size=0)


def test_a_file_that_cannot_be_opened_is_a_memory_server_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(MemoryServerError, match="cannot open the SQLite memory store"):
        DirectClient(settings_on(blocker / "memory.db"))


def test_it_says_where_the_sessions_live(tmp_path: Path) -> None:
    with DirectClient(settings_on(tmp_path / "memory.db")) as direct:
        assert direct.where == f"the embedded memory at {tmp_path / 'memory.db'}"
