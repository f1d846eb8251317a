"""`chatcli search` and `/search`: the messages nearest some words, with the ids `forget`
and `fork --at` take, against a live `chatcli serve`, the embedded memory, a server with
long-term memory off and a Motörhead-like one."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from chatcli.cli import app
from chatcli.memory.http import MotorheadClient
from chatcli.when import moment_text

PATIENT = {"CHATCLI_MEMORY_TIMEOUT": "120"}
"""The first search loads the embedding model, on a shared machine."""


@pytest.fixture
def word() -> str:
    """A word only this test's messages hold, since --all searches the whole server."""
    return f"zebra{uuid.uuid4().hex[:8]}"


def plant(memory: MotorheadClient, sid: str, namespace: str, word: str) -> None:
    memory.append(
        sid,
        [
            ("Human", f"my sister Ana keeps a {word} in Porto"),
            ("AI", " A fine pet."),
            ("Human", "the weather is grey today"),
            ("AI", " Sorry to hear it."),
        ],
        namespace=namespace,
    )


def test_a_hit_shows_session_time_id_role_and_text(cli, memory, namespace, sid, word) -> None:
    plant(memory, sid, namespace, word)
    held = memory.transcript(sid).messages[0]
    result = cli("search", word, "-s", sid, env=PATIENT)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == (
        f"{sid}  {moment_text(held.created_at)}  {held.id}  "
        f"Human: my sister Ana keeps a {word} in Porto"
    )


def test_json_gives_one_object_a_hit_with_its_ids_and_time(
    cli, memory, namespace, sid, word
) -> None:
    plant(memory, sid, namespace, word)
    held = memory.transcript(sid).messages[0]
    result = cli("search", word, "-s", sid, "--json", env=PATIENT)
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert hits[0] == {
        "session_id": sid,
        "id": held.id,
        "role": "Human",
        "content": f"my sister Ana keeps a {word} in Porto",
        "time": held.created_at,
        "dist": hits[0]["dist"],
    }
    assert [h["dist"] for h in hits] == sorted(h["dist"] for h in hits)


def test_a_session_is_named_by_a_unique_prefix(cli, memory, namespace, sid, word) -> None:
    plant(memory, sid, namespace, word)
    result = cli("search", word, "-s", sid[:-3], "--json", env=PATIENT)
    assert json.loads(result.stdout.splitlines()[0])["session_id"] == sid


def test_without_a_session_the_last_one_used_is_searched(cli, memory, namespace, sid, word) -> None:
    plant(memory, sid, namespace, word)
    other = f"{sid}-other"
    plant(memory, other, namespace, word)
    assert cli("ask", "-s", sid, "hello", env=PATIENT).exit_code == 0
    result = cli("search", word, "--json", env=PATIENT)
    assert {json.loads(line)["session_id"] for line in result.stdout.splitlines()} == {sid}


def test_all_searches_every_session(cli, memory, namespace, sid, word) -> None:
    other = f"{sid}-other"
    plant(memory, sid, namespace, word)
    plant(memory, other, namespace, word)
    result = cli("search", word, "--all", "--json", env=PATIENT)
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert {h["session_id"] for h in found if word in h["content"]} == {sid, other}


def test_limit_keeps_the_nearest(cli, memory, namespace, sid, word) -> None:
    plant(memory, sid, namespace, word)
    result = cli("search", word, "-s", sid, "-n", "1", "--json", env=PATIENT)
    assert len(result.stdout.splitlines()) == 1


def test_a_session_with_nothing_says_no_messages_match(cli, sid) -> None:
    result = cli("search", "anything", "-s", sid, env=PATIENT)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"no messages in session {sid} match 'anything'\n"


def test_an_empty_query_is_a_one_line_usage_error(cli, sid) -> None:
    result = cli("search", "  ", "-s", sid)
    assert result.exit_code == 2
    assert result.stderr == "chatcli: error: search needs words to look for: chatcli search WORDS\n"


def test_a_session_and_all_together_are_a_usage_error(cli, sid) -> None:
    result = cli("search", "x", "-s", sid, "--all")
    assert result.exit_code == 2
    assert result.stderr == (
        "chatcli: error: -s/--session and --all cannot be used together: pick one\n"
    )


def test_with_no_session_used_yet_it_asks_for_one(cli) -> None:
    result = cli("search", "x")
    assert result.exit_code == 2
    assert result.stderr == (
        "chatcli: error: no session to search: none has been used yet; give -s SESSION or --all\n"
    )


def test_a_motorhead_has_no_search_and_it_says_so(cli, motorhead_like, sid) -> None:
    result = cli("search", "x", "-s", sid, env={"CHATCLI_MEMORY_URL": motorhead_like.url})
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "has no POST /search" in result.stderr
    assert "need chatcli's memory server (`chatcli serve`), not a Motörhead" in result.stderr


def test_a_server_with_long_term_memory_off_says_so_in_one_line(
    cli, no_long_term_memory_server, sid
) -> None:
    result = cli("search", "x", "--all", env={"CHATCLI_MEMORY_URL": no_long_term_memory_server.url})
    assert result.exit_code == 1
    assert result.stderr == (
        f"chatcli: error: the memory server at {no_long_term_memory_server.url} has long-term "
        "memory off: turn on server.long_term_memory (`chatcli serve --long-term-memory`; "
        "MOTORHEAD_LONG_TERM_MEMORY=true for a Motörhead)\n"
    )


def test_the_embedded_memory_with_long_term_memory_off_says_so(cli, environ) -> None:
    off = {"CHATCLI_MEMORY_URL": None, "CHATCLI_SERVER_LONG_TERM_MEMORY": "false"}
    result = cli("search", "x", "--all", env=off)
    assert result.exit_code == 1
    assert "has long-term memory off" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_embedded_memory_is_searched_in_place(cli, scripted_llm, sid, word) -> None:
    embedded = {**PATIENT, "CHATCLI_MEMORY_URL": None, "CHATCLI_SERVER_SUMMARIZE": "false"}
    assert cli("ask", "-s", sid, f"my {word} is called Rex", env=embedded).exit_code == 0
    result = cli("search", word, env=embedded)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(f"Human: my {word} is called Rex")


def test_slash_search_shows_this_sessions_hits_with_their_ids(
    environ, memory, namespace, sid, word
) -> None:
    plant(memory, sid, namespace, word)
    held = memory.transcript(sid).messages[0]
    result = CliRunner().invoke(
        app, ["chat", "-s", sid], input=f"/search {word}\n", env={**environ, **PATIENT}
    )
    assert result.exit_code == 0, result.output
    assert f"  {held.id}  Human: my sister Ana keeps a {word} in Porto\n" in result.stdout


def test_slash_search_alone_asks_for_words(environ, sid) -> None:
    result = CliRunner().invoke(app, ["chat", "-s", sid], input="/search\n", env=environ)
    assert "/search takes the words to look for: /search WORDS\n" in result.stderr
