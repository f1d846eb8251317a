"""The CLI against a server with only Motörhead's behaviour (tests/support/motorhead_like.py):
no API keys, no chatcli extensions, window+1 messages per GET."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def mh(cli, motorhead_like):
    """Run chatcli against the Motörhead-like server, without a namespace."""

    def invoke(*args: str, **kw):
        env = {"CHATCLI_MEMORY_URL": motorhead_like.url, "CHATCLI_MEMORY_NAMESPACE": None}
        return cli(*args, env={**env, **kw.pop("env", {})}, **kw)

    return invoke


def test_ask_remembers_across_runs(mh, motorhead_like, scripted_llm) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    assert mh("ask", "-s", "testing-1", "hi im bob").exit_code == 0
    result = mh("ask", "-s", "testing-1", "whats my name?")
    assert result.stdout == "Bob.\n"
    assert scripted_llm.requests[-1].prompt.endswith(
        "\n\nHuman: hi im bob\nAI:  Hi Bob.\nHuman: whats my name?\nAI:"
    )
    assert motorhead_like.sessions["testing-1"][0] == {"role": "AI", "content": " Bob."}


def test_only_the_window_reaches_the_prompt(mh, motorhead_like, scripted_llm) -> None:
    motorhead_like.window = 2
    motorhead_like.sessions["w"] = [
        {"role": "AI" if i % 2 else "Human", "content": f"m{i}"} for i in range(9, -1, -1)
    ]
    mh("ask", "-s", "w", "next")
    assert scripted_llm.requests[-1].prompt == (
        "You are a chatbot having a conversation with a human.\n\n"
        "AI: m7\nHuman: m8\nAI: m9\nHuman: next\nAI:"
    )


def test_sessions_lists_what_the_server_lists(mh, motorhead_like) -> None:
    motorhead_like.post_memory("first", {"messages": [{"role": "Human", "content": "a"}]}, {})
    motorhead_like.post_memory("second", {"messages": [{"role": "Human", "content": "b"}]}, {})
    result = mh("sessions", "--json")
    assert result.exit_code == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == ["first", "second"]


def test_history_reads_the_transcript(mh, motorhead_like) -> None:
    body = {"messages": [{"role": "Human", "content": "hi"}, {"role": "AI", "content": " yo"}]}
    motorhead_like.post_memory("h", body, {})
    result = mh("history", "h")
    assert result.stdout == "Human: hi\nAI: yo\n"


def test_clear_deletes_on_the_server(mh, motorhead_like) -> None:
    motorhead_like.post_memory("c", {"messages": [{"role": "Human", "content": "x"}]}, {})
    result = mh("clear", "--yes", "c")
    assert result.exit_code == 0, result.stderr
    assert "c" not in motorhead_like.sessions
    assert motorhead_like.requests[-1][:2] == ("DELETE", "/sessions/c/memory")


def test_no_chatcli_only_header_is_needed(mh, motorhead_like, scripted_llm) -> None:
    mh("ask", "-s", "plain", "hello")
    assert all("x-api-key" not in {k.lower() for k in r[2]} for r in motorhead_like.requests)
    assert motorhead_like.sessions["plain"][1] == {"role": "Human", "content": "hello"}
