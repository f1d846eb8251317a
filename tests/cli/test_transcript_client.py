"""The transcript half of the MemoryClient protocol, on both transports: the HTTP client
against a live `chatcli serve`, the direct client on an embedded file. Each behaviour is
one test run on both; errors are the CLI's, worded the same whichever transport."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatcli.config import ServerSettings, Settings
from chatcli.errors import NeedsChatcliServer, NotFound, UsageError
from chatcli.memory.direct import DirectClient
from chatcli.memory.http import MotorheadClient
from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import TranscriptMessage
from tests.support.motorhead_like import MotorheadLike
from tests.support.procs import ServeProcess


@pytest.fixture(params=["http", "direct"])
def client(
    request: pytest.FixtureRequest, memory_server: ServeProcess, tmp_path: Path
) -> Iterator[MemoryClient]:
    if request.param == "http":
        with MotorheadClient(memory_server.url) as over_http:
            yield over_http
        return
    with DirectClient(Settings(server=ServerSettings(db=str(tmp_path / "m.db")))) as direct:
        yield direct


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def posted(client: MemoryClient, *contents: str) -> str:
    session = new_id()
    client.append(session, [("Human", c) for c in contents])
    return session


def test_the_transcript_lists_every_message_oldest_first_with_ids(client: MemoryClient) -> None:
    session = posted(client, "one", "two", "three")
    page = client.transcript(session)
    assert [m.content for m in page.messages] == ["one", "two", "three"]
    assert len({m.id for m in page.messages}) == 3
    assert page.next is None


def test_a_transcript_pages_by_its_cursor(client: MemoryClient) -> None:
    session = posted(client, "one", "two", "three")
    first = client.transcript(session, limit=2)
    rest = client.transcript(session, after=first.next, limit=2)
    assert [m.content for m in first.messages + rest.messages] == ["one", "two", "three"]


def test_forgetting_a_message_removes_it_from_the_transcript(client: MemoryClient) -> None:
    session = posted(client, "keep", "drop")
    drop = client.transcript(session).messages[1]
    client.forget(session, drop.id)
    assert [m.content for m in client.transcript(session).messages] == ["keep"]


def test_editing_a_message_returns_it_changed(client: MemoryClient) -> None:
    session = posted(client, "my name is Bbo")
    message = client.transcript(session).messages[0]
    edited = client.edit(session, message.id, "my name is Bob")
    assert (edited.id, edited.content) == (message.id, "my name is Bob")
    assert client.memory(session).messages == [("Human", "my name is Bob")]


def test_a_fork_copies_up_to_a_message_with_the_same_ids(client: MemoryClient) -> None:
    session = posted(client, "one", "two", "three")
    second = client.transcript(session).messages[1]
    target = new_id()
    assert client.fork(session, target, at=second.id) == 2
    assert [m.id for m in client.transcript(target).messages] == [
        m.id for m in client.transcript(session).messages[:2]
    ]


def test_a_fork_into_a_session_with_data_is_a_usage_error(client: MemoryClient) -> None:
    session, taken = posted(client, "one"), posted(client, "other")
    with pytest.raises(UsageError, match="already has data"):
        client.fork(session, taken)


def test_an_import_is_idempotent_by_id(client: MemoryClient) -> None:
    session = new_id()
    messages = [
        TranscriptMessage("m1", "Human", "hi", 1_700_000_000_000, False),
        TranscriptMessage("m2", "AI", " hello", 1_700_000_001_000, False),
    ]
    assert client.import_messages(session, messages) == (2, 0)
    assert client.import_messages(session, messages) == (0, 2)
    assert client.transcript(session).messages == messages


def test_an_unknown_message_is_not_found(client: MemoryClient) -> None:
    session = posted(client, "one")
    with pytest.raises(NotFound, match="no message"):
        client.forget(session, "nosuchmessage")


def test_a_motorhead_has_no_transcript_and_says_what_it_takes(
    motorhead_like: MotorheadLike,
) -> None:
    with (
        MotorheadClient(motorhead_like.url) as client,
        pytest.raises(NeedsChatcliServer, match="chatcli serve"),
    ):
        client.transcript("s1")
