"""The summary strategies other than Motörhead's: plain functions, a scripted call, and one
run of the bundled model through the server's compaction."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from chatcli.config import LLMSettings, ServerSettings
from chatcli.server.store import Message
from chatcli.server.summary import (
    FACTS_PROMPT,
    build_facts_prompt,
    extract_facts,
    fact_lines,
    merge_facts,
    parse_facts,
    strategy_for,
    summarize_chunks,
)
from chatcli.server.tokens import count_tokens

CHAT = [
    Message("Human", "hi im bob"),
    Message("AI", "Hello Bob! I am an AI."),
    Message("Human", "what is my name?"),
    Message("AI", "Bob."),
    Message("Human", "Thanks. My cat is called Miso. Do you like cats?"),
]


def test_extracted_facts_are_the_humans_first_person_statements_verbatim() -> None:
    lines = [f"{m.role}: {m.content}" for m in CHAT]
    assert extract_facts(lines) == ["hi im bob", "My cat is called Miso"]


def test_extraction_leaves_out_questions_and_the_ais_lines() -> None:
    assert extract_facts(["Human: what is my name?", "AI: I am sure your name is Bob."]) == []


def test_merged_facts_keep_each_fact_once_in_order() -> None:
    merged = merge_facts(["hi im bob"], ["Hi im Bob!", "i live in Lisbon"])
    assert merged == "- hi im bob\n- i live in Lisbon"


def test_merged_facts_over_the_budget_drop_the_oldest_but_the_first() -> None:
    facts = [f"fact number {n} about the human" for n in range(100)]
    merged = merge_facts(facts, [], budget=50)
    assert count_tokens(merged) <= 50
    kept = fact_lines(merged)
    assert kept[0] == facts[0] and kept[-1] == facts[-1]


def test_the_facts_prompt_ends_in_an_open_list_after_the_lines() -> None:
    prompt = build_facts_prompt(["Human: i live in Lisbon"])
    assert prompt.endswith("Human: i live in Lisbon\nFacts about the human:\n- ")
    assert prompt.startswith(FACTS_PROMPT.split("{lines}")[0])


def test_a_models_fact_that_names_nothing_the_lines_say_is_dropped() -> None:
    lines = ["Human: hi im bob", "Human: i fix pipes"]
    assert parse_facts("The human works as a teacher.\n- The human fixes pipes.", lines) == [
        "The human fixes pipes."
    ]


def test_a_models_list_ends_where_it_starts_repeating_itself() -> None:
    answer = "1. The human is Bob.\n- 2. The human is Bob.\n- 3. Bob lives in Lisbon."
    assert parse_facts(answer, ["Human: hi im bob", "Human: i live in Lisbon"]) == [
        "The human is Bob."
    ]


def test_a_models_list_is_read_until_it_stops_being_a_list() -> None:
    answer = "The human is Bob.\n- The human lives in Lisbon.\nConversation:\n- no"
    assert parse_facts(answer, ["Human: hi im bob", "Human: i live in Lisbon"]) == [
        "The human is Bob.",
        "The human lives in Lisbon.",
    ]


def test_facts_copied_from_the_worked_example_are_dropped() -> None:
    assert parse_facts("The human's name is Ana.", ["Human: hi im bob"]) == []


def test_extractive_summaries_call_no_model() -> None:
    def call(prompt: str) -> tuple[str, int | None]:
        raise AssertionError("no model call expected")

    summary, tokens = summarize_chunks(call, None, CHAT, strategy="extractive")
    assert summary == "- hi im bob\n- My cat is called Miso"
    assert tokens == 0


def test_combined_summaries_add_the_models_facts_to_the_humans_statements() -> None:
    summary, tokens = summarize_chunks(
        lambda prompt: ("The human has a cat named Miso.\n", 7), "- i work as a plumber", CHAT,
        strategy="combined",
    )  # fmt: skip
    assert fact_lines(summary) == [
        "i work as a plumber",
        "hi im bob",
        "My cat is called Miso",
        "The human has a cat named Miso.",
    ]
    assert tokens == 7


def test_a_combined_summary_keeps_the_previous_facts_when_the_model_lists_nothing() -> None:
    summary, _ = summarize_chunks(
        lambda prompt: ("", 1), "- hi im bob", [Message("Human", "ok")], strategy="combined"
    )
    assert summary == "- hi im bob"


def test_the_bundled_model_summarizes_with_facts_and_openai_models_with_motorheads_prompt() -> None:
    assert strategy_for(LLMSettings(provider="local")) == "extractive"
    assert strategy_for(LLMSettings(provider="openai")) == "motorhead"


PLANTED = [
    ("Human", "hi im bob"),
    ("AI", "Hello Bob!"),
    ("Human", "i live in Lisbon"),
    ("AI", "Lisbon is lovely."),
    ("Human", "my cat is called Miso"),
    ("AI", "Cute."),
    ("Human", "my sister is named Clara"),
    ("AI", "Nice."),
    ("Human", "what is my name?"),
    ("AI", "Bob."),
    ("Human", "thanks"),
]


@pytest.mark.local_model
def test_facts_planted_in_a_chat_survive_the_bundled_models_compaction(tmp_path: Path) -> None:
    from chatcli.server.app import create_app
    from chatcli.server.compactor import Compactor
    from chatcli.server.embedded import ThreadedServer
    from chatcli.server.sqlite_store import SQLiteStore
    from chatcli.server.summary_workers import LLMSummarizer

    window = 4
    store = SQLiteStore(tmp_path / "memory.db")
    compactor = Compactor(store, window, LLMSummarizer(LLMSettings(provider="local")))
    app = create_app(store, ServerSettings(window=window), compactor)
    with ThreadedServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        messages = [{"role": role, "content": content} for role, content in PLANTED]
        assert client.post("/sessions/bob/memory", json={"messages": messages}).is_success
        deadline = time.monotonic() + 180
        while compactor.busy():
            assert time.monotonic() < deadline, "the local model did not summarize in time"
            time.sleep(0.1)
        context = client.get("/sessions/bob/memory").json()["context"]

    for word in ("bob", "lisbon", "miso", "clara"):
        assert word in context.lower(), context
