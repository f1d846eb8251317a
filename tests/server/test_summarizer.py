"""Motörhead's progressive summary: prompt text, chunking to the token budget, chaining, NONE.

The plain functions are tested as functions; LLMSummarizer talks HTTP to the scripted
OpenAI-compatible server, over both APIs, with the streaming setting on and off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chatcli.config import LLMSettings
from chatcli.errors import LLMError
from chatcli.server.store import Message, message_line
from chatcli.server.summary import (
    MAX_MESSAGE_TOKENS,
    SummaryFailed,
    build_prompt,
    chunk_budget,
    chunk_lines,
    clean_answer,
    failure_line,
    next_summary,
    summarize_chunks,
    transcript_summary,
)
from chatcli.server.summary_workers import LLMSummarizer, ProcessSummarizer, WorkerDied
from chatcli.server.tokens import count_tokens
from tests.support.procs import free_port
from tests.support.scripted_openai import ScriptedOpenAI

MOTORHEAD_PROMPT = (
    "\n"
    "Progressively summarize the lines of conversation provided, adding onto the previous "
    "summary returning a new summary. If the lines are meaningless just return NONE\n"
    "\n"
    "EXAMPLE\n"
    "Current summary:\n"
    "The human asks who is the lead singer of Motorhead. The AI responds Lemmy Kilmister.\n"
    "New lines of conversation:\n"
    "Human: What are the other members of Motorhead?\n"
    "AI: The original members included Lemmy Kilmister (vocals, bass), Larry Wallis (guitar), "
    "and Lucas Fox (drums), with notable members throughout the years including "
    '\\"Fast\\" Eddie Clarke (guitar), Phil \\"Philthy Animal\\" Taylor (drums), '
    "and Mikkey Dee (drums).\n"
    "New summary:\n"
    "The human asks who is the lead singer and other members of Motorhead. The AI responds "
    "Lemmy Kilmister is the lead singer and other original members include Larry Wallis, "
    'and Lucas Fox, with notable past members including \\"Fast\\" Eddie Clarke, '
    'Phil \\"Philthy Animal\\" Taylor, and Mikkey Dee.\n'
    "END OF EXAMPLE\n"
    "\n"
    "Current summary:\n"
    "{summary}\n"
    "New lines of conversation:\n"
    "{lines}\n"
    "New summary:\n"
)


def words(n: int, word: str = "apple") -> str:
    """A text of exactly n p50k tokens (' apple' is one token)."""
    text = word + f" {word}" * (n - 1)
    assert count_tokens(text) == n
    return text


def test_prompt_is_motorheads_progressive_summary_prompt() -> None:
    prompt = build_prompt("Bob said hi.", ["Human: whats my name?", "AI: Bob"])
    assert prompt == MOTORHEAD_PROMPT.format(
        summary="Bob said hi.", lines="Human: whats my name?\nAI: Bob"
    )


def test_prompt_without_a_summary_leaves_current_summary_empty() -> None:
    prompt = build_prompt(None, ["Human: hi"])
    assert "Current summary:\n\nNew lines of conversation:\nHuman: hi\nNew summary:\n" in prompt


def test_messages_appear_as_role_colon_content_lines() -> None:
    assert message_line(Message("Human", "hi im bob")) == "Human: hi im bob"


def test_budget_is_motorheads_4096_minus_512_minus_230() -> None:
    assert MAX_MESSAGE_TOKENS == 4096 - 512 - 230


def test_lines_within_the_budget_make_one_chunk() -> None:
    lines = ["Human: hi", "AI: hello", "Human: bye"]
    assert chunk_lines(lines) == [lines]


def test_a_chunk_ends_where_the_next_line_would_exceed_the_budget() -> None:
    lines = [words(4), words(5), words(1), words(3)]
    assert chunk_lines(lines, budget=10) == [[lines[0], lines[1], lines[2]], [lines[3]]]


def test_chunks_keep_every_line_in_order_and_each_fits_the_budget() -> None:
    lines = [f"Human: message {i} " + words(300 + 37 * i) for i in range(20)]
    chunks = chunk_lines(lines)
    assert len(chunks) > 1
    assert [line for chunk in chunks for line in chunk] == lines
    for chunk in chunks:
        assert sum(count_tokens(line) for line in chunk) <= MAX_MESSAGE_TOKENS


def test_a_message_bigger_than_a_chunk_is_truncated_into_a_chunk_of_its_own() -> None:
    huge = "Human: " + words(3 * MAX_MESSAGE_TOKENS)
    chunks = chunk_lines(["AI: before", huge, "AI: after"])
    assert len(chunks) == 3
    assert chunks[0] == ["AI: before"]
    assert chunks[2] == ["AI: after"]
    (cut,) = chunks[1]
    assert huge.startswith(cut)
    assert count_tokens(cut) == MAX_MESSAGE_TOKENS


def test_each_chunks_summary_becomes_the_next_chunks_current_summary() -> None:
    prompts: list[str] = []
    answers = iter(["summary one", "summary two"])

    def call(prompt: str) -> tuple[str, int | None]:
        prompts.append(prompt)
        return next(answers), 7

    messages = [Message("Human", words(6)), Message("AI", words(6))]
    summary, tokens = summarize_chunks(call, "old", messages, budget=10)
    assert summary == "summary two"
    assert tokens == 14
    assert prompts == [
        build_prompt("old", [message_line(messages[0])]),
        build_prompt("summary one", [message_line(messages[1])]),
    ]


def test_a_none_answer_keeps_the_previous_summary() -> None:
    lines = ["Human: asdf"]
    assert next_summary("Bob likes tea.", lines, "NONE") == "Bob likes tea."
    assert next_summary("Bob likes tea.", lines, "  NONE\n") == "Bob likes tea."
    assert next_summary("Bob likes tea.", lines, "Bob likes coffee now.") == "Bob likes coffee now."


def test_an_answer_ends_where_a_small_model_runs_on_into_the_prompts_layout() -> None:
    assert clean_answer("Bob likes tea.\nEND OF SUMMARY\n\nCurrent summary:\nx") == (
        "Bob likes tea."
    )
    assert clean_answer("Bob is here.\nHe likes tea.\nBob is here.\nHe likes tea.") == (
        "Bob is here.\nHe likes tea."
    )


def test_a_copy_of_the_worked_example_keeps_the_transcript_instead() -> None:
    echo = (
        "The human asks who is the lead singer and other members of Motorhead. The AI "
        "responds Lemmy Kilmister is the lead singer.\nEND OF SUMMARY"
    )
    lines = ["Human: hi im bob", "AI: Hello Bob!"]
    assert (
        next_summary("Earlier: tea.", lines, echo)
        == "Earlier: tea.\nHuman: hi im bob\nAI: Hello Bob!"
    )


def test_a_transcript_kept_as_summary_is_cut_from_its_oldest_end_to_a_summarys_size() -> None:
    lines = [f"Human: {words(100)}" for _ in range(8)] + ["AI: the newest line"]
    kept = transcript_summary("old summary", lines)
    assert kept.endswith("AI: the newest line")
    assert "old summary" not in kept
    assert count_tokens(kept) <= 512


def test_meaningless_lines_and_no_previous_summary_give_an_empty_summary() -> None:
    summary, _ = summarize_chunks(lambda p: ("NONE", 1), None, [Message("Human", "asdf")])
    assert summary == ""


def test_tokens_used_are_counted_when_the_llm_reports_none() -> None:
    prompt = build_prompt(None, ["Human: hi"])
    _, tokens = summarize_chunks(lambda p: ("Bob said hi.", None), None, [Message("Human", "hi")])
    assert tokens == count_tokens(prompt) + count_tokens("Bob said hi.")


def test_a_local_models_prompt_and_answer_fit_its_context() -> None:
    budget = chunk_budget(LLMSettings(provider="local", context_size=2048))
    worst_prompt = build_prompt(words(512), [words(budget)])
    assert count_tokens(worst_prompt) + 512 <= 2048
    assert chunk_budget(LLMSettings(provider="openai")) == MAX_MESSAGE_TOKENS


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("stream", [True, False])
def test_llm_summarizer_sends_motorheads_prompt_and_returns_the_answer(
    scripted_llm: ScriptedOpenAI, api: str, stream: bool
) -> None:
    answer = "The human is Bob."
    scripted_llm.script.append(answer)
    summarizer = LLMSummarizer(
        LLMSettings(provider="openai", base_url=scripted_llm.base_url, api=api, stream=stream)
    )
    messages = [Message("Human", "hi im bob"), Message("AI", "Hello Bob!")]
    try:
        summary, tokens = asyncio.run(summarizer.summarize("An earlier chat.", messages))
    finally:
        summarizer.close()
    (request,) = scripted_llm.requests
    expected = build_prompt("An earlier chat.", ["Human: hi im bob", "AI: Hello Bob!"])
    assert request.prompt == expected
    assert request.path.endswith("/chat/completions" if api == "chat" else "/v1/completions")
    assert summary == answer
    # The scripted server reports usage as words of prompt plus words of answer.
    assert tokens == len(expected.split()) + len(answer.split())


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_llm_summarizer_asks_for_at_most_512_completion_tokens(
    scripted_llm: ScriptedOpenAI, api: str
) -> None:
    settings = LLMSettings(
        provider="openai", base_url=scripted_llm.base_url, api=api, max_tokens=2048
    )
    summarizer = LLMSummarizer(settings)
    try:
        asyncio.run(summarizer.summarize(None, [Message("Human", "hi")]))
    finally:
        summarizer.close()
    body = scripted_llm.requests[0].body
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 512


def test_building_a_summarizer_imports_no_langchain_and_loads_no_model() -> None:
    code = (
        "import sys\n"
        "from chatcli.config import Settings, LLMSettings\n"
        "from chatcli.server.compactor import build_compactor\n"
        "from chatcli.server.redis_store import RedisStore\n"
        "c = build_compactor(RedisStore('redis://127.0.0.1:1/0'), Settings(llm=LLMSettings("
        "provider='local')))\n"
        "assert c is not None\n"
        "heavy = [m for m in sys.modules if m.startswith(('langchain', 'llama_cpp'))]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_process_summarizer_sends_motorheads_prompt_from_a_worker_process(
    scripted_llm: ScriptedOpenAI,
) -> None:
    scripted_llm.script.append("The human is Bob.")
    summarizer = ProcessSummarizer(LLMSettings(provider="openai", base_url=scripted_llm.base_url))
    messages = [Message("Human", "hi im bob"), Message("AI", "Hello Bob!")]
    try:
        summary, tokens = asyncio.run(summarizer.summarize(None, messages))
    finally:
        summarizer.close()
    (request,) = scripted_llm.requests
    assert request.prompt == build_prompt(None, ["Human: hi im bob", "AI: Hello Bob!"])
    assert summary == "The human is Bob."
    assert tokens > 0


def test_process_summarizer_recovers_from_a_worker_that_died(scripted_llm: ScriptedOpenAI) -> None:
    scripted_llm.responder = lambda _prompt: "Bob again."
    summarizer = ProcessSummarizer(LLMSettings(provider="openai", base_url=scripted_llm.base_url))
    messages = [Message("Human", "hi im bob")]

    async def scenario() -> tuple[str, int]:
        summarizer.warm()
        for pid in summarizer.worker_pids():
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerDied):
            await summarizer.summarize(None, messages)
        return await summarizer.summarize(None, messages)

    try:
        summary, _ = asyncio.run(scenario())
    finally:
        summarizer.close()
    assert summary == "Bob again."


def test_process_summarizer_reports_a_model_it_cannot_build_at_warm_up(tmp_path: Path) -> None:
    settings = LLMSettings(provider="local", local_model_path=str(tmp_path / "none.gguf"))
    summarizer = ProcessSummarizer(settings)
    try:
        with pytest.raises(LLMError, match=r"none\.gguf is not a file"):
            summarizer.warm()
    finally:
        summarizer.close()


def test_process_summarizer_reports_an_llm_failure_by_its_cause_and_keeps_its_worker(
    scripted_llm: ScriptedOpenAI,
) -> None:
    # The OpenAI client tries twice (max_retries=1): both attempts get the scripted 500.
    scripted_llm.fail_next = 2
    scripted_llm.responder = lambda _prompt: "Bob at last."
    summarizer = ProcessSummarizer(
        LLMSettings(provider="openai", base_url=scripted_llm.base_url), workers=1
    )
    messages = [Message("Human", "hi im bob")]

    async def scenario() -> tuple[SummaryFailed, list[int], list[int], str]:
        summarizer.warm()
        before = summarizer.worker_pids()
        with pytest.raises(SummaryFailed) as failed:
            await summarizer.summarize(None, messages)
        summary, _ = await summarizer.summarize(None, messages)
        return failed.value, before, summarizer.worker_pids(), summary

    try:
        failure, before, after, summary = asyncio.run(scenario())
    finally:
        summarizer.close()
    assert failure.kind.endswith("Error")
    assert "500 - scripted failure" in failure_line(failure)
    assert "\n" not in failure_line(failure)
    assert before == after and len(after) == 1
    assert summary == "Bob at last."


def test_process_summarizer_names_an_unreachable_llm_and_serves_the_retry_in_the_same_worker() -> (
    None
):
    summarizer = ProcessSummarizer(
        LLMSettings(provider="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", timeout=5),
        workers=1,
    )
    messages = [Message("Human", "hi im bob")]

    async def scenario() -> tuple[list[str], list[list[int]]]:
        kinds, pids = [], []
        for _ in range(2):
            with pytest.raises(SummaryFailed) as failed:
                await summarizer.summarize(None, messages)
            kinds.append(failed.value.kind)
            pids.append(summarizer.worker_pids())
        return kinds, pids

    try:
        kinds, pids = asyncio.run(scenario())
    finally:
        summarizer.close()
    assert kinds == ["OpenAIConnectionError", "OpenAIConnectionError"]
    assert pids[0] == pids[1] and len(pids[0]) == 1


def test_a_closed_process_summarizer_leaves_no_worker_running(
    scripted_llm: ScriptedOpenAI,
) -> None:
    summarizer = ProcessSummarizer(LLMSettings(provider="openai", base_url=scripted_llm.base_url))
    summarizer.warm()
    (pid,) = summarizer.worker_pids()
    summarizer.close()
    assert summarizer.worker_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
