"""Long-term recall in the chat: what the scripted LLM receives when a session holds
messages beyond its window, through a live `chatcli serve`, the embedded memory and a
Motörhead-like server; and how /recall, memory.recall and memory.recall_k change it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatcli.cli import app
from chatcli.config import ServerSettings, Settings
from chatcli.errors import RecallDisabled
from chatcli.memory.direct import DirectClient
from chatcli.memory.http import MotorheadClient
from chatcli.prompt import RECALL_HEADING
from tests.support.motorhead_like import MotorheadLike
from tests.support.scripted_openai import ScriptedOpenAI

FACT = "my sister Ana lives in Porto"
QUESTION = "where does my sister Ana live?"
RECALLED = f"{RECALL_HEADING}\n- Human: {FACT}\n"
PATIENT = {"CHATCLI_MEMORY_TIMEOUT": "120"}
"""A planted backlog is indexed while the first question is asked, on a shared machine."""
EMBEDDED = {**PATIENT, "CHATCLI_MEMORY_URL": None, "CHATCLI_SERVER_SUMMARIZE": "false"}
"""The embedded memory, without summaries: the scripted LLM sees only the chat's prompts."""


def long_ago(turns: int = 20) -> list[tuple[str, str]]:
    """The fact, then `turns` exchanges that share no word with the question."""
    filler: list[tuple[str, str]] = []
    for n in range(turns):
        filler += [("Human", f"filler line number {n}"), ("AI", f" noted entry {n}")]
    return [("Human", FACT), ("AI", " Porto is lovely."), *filler]


def last_prompt(scripted_llm: ScriptedOpenAI) -> str:
    return scripted_llm.requests[-1].prompt


def write_config(environ: dict, text: str) -> None:
    config = Path(environ["CHATCLI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(text, encoding="utf-8")


def test_a_fact_200_turns_back_reaches_the_prompt_through_a_live_serve(
    cli, memory, namespace, scripted_llm, sid
) -> None:
    memory.append(sid, long_ago(200), namespace=namespace)
    result = cli("ask", "-s", sid, QUESTION, env=PATIENT)
    assert result.exit_code == 0, result.output
    prompt = last_prompt(scripted_llm)
    assert RECALLED in prompt
    assert prompt.index(RECALL_HEADING) < prompt.index("Human: filler line number 199")


def test_a_fact_200_turns_back_reaches_the_prompt_through_the_embedded_memory(
    cli, environ, scripted_llm, sid
) -> None:
    db = Path(environ["CHATCLI_DATA_DIR"]) / "memory.db"
    db.parent.mkdir(parents=True)
    with DirectClient(Settings(server=ServerSettings(db=str(db)))) as direct:
        direct.append(sid, long_ago(200))
    result = cli("ask", "-s", sid, QUESTION, env=EMBEDDED)
    assert result.exit_code == 0, result.output
    assert RECALLED in last_prompt(scripted_llm)


def test_recalled_lines_stand_ahead_of_the_window_and_repeat_none_of_it(
    cli, memory, namespace, scripted_llm, sid
) -> None:
    memory.append(sid, long_ago(), namespace=namespace)
    cli("ask", "-s", sid, QUESTION, env=PATIENT)
    block, turns = last_prompt(scripted_llm).split(RECALL_HEADING + "\n")[1].split("\nHuman: ", 1)
    recalled = block.splitlines()
    assert all(line.startswith("- ") for line in recalled)
    assert not any(line[2:] in turns for line in recalled)


def test_with_nothing_beyond_the_window_the_prompt_is_the_seeds_byte_for_byte(
    cli, scripted_llm, sid
) -> None:
    scripted_llm.script[:] = [" Hi Bob, nice to meet you!", " Your name is Bob."]
    cli("ask", "-s", sid, "hi im bob")
    cli("ask", "-s", sid, "whats my name?")
    assert last_prompt(scripted_llm) == (
        "You are a chatbot having a conversation with a human.\n"
        "\n"
        "Human: hi im bob\n"
        "AI:  Hi Bob, nice to meet you!\n"
        "Human: whats my name?\n"
        "AI:"
    )


def test_verbose_shows_the_recalled_lines(cli, memory, namespace, sid) -> None:
    memory.append(sid, long_ago(), namespace=namespace)
    result = cli("ask", "--verbose", "-s", sid, QUESTION, env=PATIENT)
    assert "from beyond the window:\n  - Human: my sister Ana lives in Porto\n" in result.stderr


def test_memory_recall_false_in_the_config_keeps_recall_out(
    cli, environ, memory, namespace, scripted_llm, sid
) -> None:
    write_config(environ, "[memory]\nrecall = false\n")
    memory.append(sid, long_ago(), namespace=namespace)
    assert cli("ask", "-s", sid, QUESTION, env=PATIENT).exit_code == 0
    assert RECALL_HEADING not in last_prompt(scripted_llm)


def test_memory_recall_k_sets_how_many_are_recalled(
    cli, memory, namespace, scripted_llm, sid
) -> None:
    memory.append(sid, long_ago(), namespace=namespace)
    cli("ask", "-s", sid, QUESTION, env={**PATIENT, "CHATCLI_MEMORY_RECALL_K": "1"})
    assert f"{RECALLED}Human: filler" in last_prompt(scripted_llm)


def test_recall_off_in_the_repl_keeps_recall_out_of_the_next_prompt(
    environ, memory, namespace, scripted_llm, sid
) -> None:
    memory.append(sid, long_ago(), namespace=namespace)
    lines = f"{QUESTION}\n/recall off\n{QUESTION}\n/recall on\n{QUESTION}\n"
    result = CliRunner().invoke(app, ["chat", "-s", sid], input=lines, env={**environ, **PATIENT})
    assert result.exit_code == 0, result.output
    first, second, third = (r.prompt for r in scripted_llm.requests[-3:])
    assert RECALLED in first and RECALLED in third
    assert RECALL_HEADING not in second
    assert "recall off\n" in result.stderr


def test_recall_alone_says_whether_it_is_on(environ, sid) -> None:
    result = CliRunner().invoke(app, ["chat", "-s", sid], input="/recall\n", env=environ)
    assert "recall on: up to 3 relevant messages from beyond the window\n" in result.stderr


@pytest.fixture
def motorhead_env(environ, motorhead_like: MotorheadLike) -> dict:
    return {**environ, **PATIENT, "CHATCLI_MEMORY_URL": motorhead_like.url}


def test_a_motorhead_with_long_term_memory_is_recalled_from(
    motorhead_env, motorhead_like, scripted_llm, sid
) -> None:
    motorhead_like.long_term = True
    with MotorheadClient(motorhead_like.url) as client:
        client.append(sid, long_ago())
    result = CliRunner().invoke(app, ["ask", "-s", sid, QUESTION], env=motorhead_env)
    assert result.exit_code == 0, result.output
    assert RECALLED in last_prompt(scripted_llm)


def test_a_motorhead_without_long_term_memory_gives_the_seeds_prompt_quietly(
    motorhead_env, motorhead_like, scripted_llm, sid
) -> None:
    with MotorheadClient(motorhead_like.url) as client:
        client.append(sid, [("Human", FACT), ("AI", " Lovely.")])
    result = CliRunner().invoke(app, ["ask", "-s", sid, QUESTION], env=motorhead_env)
    assert result.exit_code == 0 and result.stderr == ""
    assert last_prompt(scripted_llm) == (
        "You are a chatbot having a conversation with a human.\n\n"
        f"Human: {FACT}\nAI:  Lovely.\nHuman: {QUESTION}\nAI:"
    )


def test_retrieve_from_a_motorhead_without_long_term_memory_says_it_is_off(
    motorhead_like, sid
) -> None:
    with MotorheadClient(motorhead_like.url) as client, pytest.raises(RecallDisabled):
        client.retrieve(sid, QUESTION)
