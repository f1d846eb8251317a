"""Session ids: checked before anything slow, and matched by a unique prefix everywhere."""

from __future__ import annotations

import pytest

from chatcli.errors import UsageError
from chatcli.session_ref import match_session

KNOWN = ["8ab277-x", "8ab301-y", "9cd000", "chat-1"]


def test_an_exact_id_wins_over_longer_ids_it_prefixes() -> None:
    assert match_session("chat-1", [*KNOWN, "chat-10"]) == "chat-1"


def test_a_unique_prefix_names_its_session() -> None:
    assert match_session("8ab2", KNOWN) == "8ab277-x"


def test_a_prefix_of_nothing_is_none() -> None:
    assert match_session("zz", KNOWN) is None


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    with pytest.raises(UsageError) as caught:
        match_session("8ab", KNOWN)
    assert caught.value.message == (
        "session prefix 8ab matches 2 sessions: 8ab277-x, 8ab301-y (give more of the id)"
    )


def test_many_candidates_are_cut_short() -> None:
    with pytest.raises(UsageError, match=r": p0, p1, p2, p3, p4 and 3 more \(give"):
        match_session("p", [f"p{n}" for n in range(8)])


def seed(memory, sid: str, namespace: str) -> None:
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")], namespace=namespace)


def test_clear_takes_a_unique_prefix(cli, memory, namespace, sid) -> None:
    seed(memory, f"{sid}-only", namespace)
    result = cli("clear", "-y", sid)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"deleted session {sid}-only: all 2 messages of its transcript, not only the window\n"
    )
    assert memory.memory(f"{sid}-only").is_empty


def test_history_takes_a_unique_prefix(cli, memory, namespace, sid) -> None:
    seed(memory, f"{sid}-only", namespace)
    assert cli("history", "--window", sid).stdout == "Human: hi im bob\nAI: Hi Bob.\n"


def test_an_ambiguous_prefix_is_a_one_line_usage_error(cli, memory, namespace, sid) -> None:
    seed(memory, f"{sid}-a", namespace)
    seed(memory, f"{sid}-b", namespace)
    for args in (["history", sid], ["clear", "-y", sid], ["ask", "-s", sid, "hi"]):
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stderr == (
            f"chatcli: error: session prefix {sid} matches 2 sessions: {sid}-a, {sid}-b "
            "(give more of the id)\n"
        )
    assert len(memory.memory(f"{sid}-a").messages) == 2


def test_ask_continues_the_session_a_prefix_names(
    cli, memory, namespace, sid, scripted_llm
) -> None:
    seed(memory, f"{sid}-bob", namespace)
    scripted_llm.script[:] = [" Bob."]
    result = cli("ask", "-s", sid, "whats my name?")
    assert result.exit_code == 0, result.stderr
    assert "Human: hi im bob" in scripted_llm.requests[-1].prompt
    assert len(memory.memory(f"{sid}-bob").messages) == 4


def test_ask_with_an_id_that_matches_nothing_starts_that_session(
    cli, memory, sid, scripted_llm
) -> None:
    assert cli("ask", "-s", sid, "hello").exit_code == 0
    assert len(memory.memory(sid).messages) == 2


def test_a_prefix_is_matched_only_in_the_namespace(cli, memory, namespace, sid) -> None:
    seed(memory, f"{sid}-elsewhere", "another-namespace")
    result = cli("history", sid)
    assert result.exit_code == 1
    assert f"no session named {sid}" in result.stderr


def test_embedded_memory_takes_a_prefix_too(cli, scripted_llm, sid) -> None:
    embedded = {"CHATCLI_MEMORY_URL": None, "CHATCLI_MEMORY_NAMESPACE": None}
    assert cli("ask", "-s", f"{sid}-long-id", "hi", env=embedded).exit_code == 0
    assert cli("history", "--window", sid, env=embedded).stdout.startswith("Human: hi\n")
