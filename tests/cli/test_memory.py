"""chatcli's MotorheadMemory and the Conversation around it, against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatcli.config import LLMSettings, MemorySettings, Settings
from chatcli.conversation import Conversation
from chatcli.errors import MemoryServerError
from chatcli.memory.http import MotorheadClient
from chatcli.memory.langchain import ChatcliMotorheadMemory
from tests.support.procs import free_port
from tests.support.scripted_openai import ScriptedOpenAI


def settings_for(scripted: ScriptedOpenAI, **llm) -> Settings:
    return Settings(
        llm=LLMSettings(
            provider="openai", base_url=scripted.base_url, api_key="k", api="completions", **llm
        ),
        memory=MemorySettings(timeout=5.0),
    )


@pytest.fixture
def conversation(scripted_llm, memory_url, sid) -> Iterator[Conversation]:
    conv = Conversation(settings_for(scripted_llm), MotorheadClient(memory_url), sid)
    yield conv
    conv.close()


def test_it_is_the_stock_motorhead_memory_class(memory_url, sid) -> None:
    from langchain_community.memory.motorhead_memory import MotorheadMemory

    memory = ChatcliMotorheadMemory(MotorheadClient(memory_url), session_id=sid)
    assert isinstance(memory, MotorheadMemory)
    assert memory.memory_variables == ["chat_history"]


def test_every_load_reads_the_server(memory, memory_url, sid) -> None:
    chat_memory = ChatcliMotorheadMemory(MotorheadClient(memory_url), session_id=sid)
    assert chat_memory.load_memory_variables({}) == {"chat_history": ""}
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    assert chat_memory.load_memory_variables({}) == {
        "chat_history": "Human: hi im bob\nAI:  Hi Bob."
    }


def test_saving_keeps_no_local_copy(memory, memory_url, sid) -> None:
    chat_memory = ChatcliMotorheadMemory(MotorheadClient(memory_url), session_id=sid)
    chat_memory.save_context({"human_input": "hi"}, {"text": " hello"})
    assert chat_memory.chat_memory.messages == []
    assert memory.memory(sid).messages == [("Human", "hi"), ("AI", " hello")]


def test_two_terminals_on_one_session_see_each_others_turns(scripted_llm, memory_url, sid) -> None:
    first = Conversation(settings_for(scripted_llm), MotorheadClient(memory_url), sid)
    second = Conversation(settings_for(scripted_llm), MotorheadClient(memory_url), sid)
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    first.turn("hi im bob")
    second.turn("whats my name?")
    assert "Human: hi im bob\nAI:  Hi Bob.\nHuman: whats my name?" in (
        scripted_llm.requests[-1].prompt
    )
    first.close()
    second.close()


def test_the_summary_goes_ahead_of_the_turns_in_the_prompt(
    conversation, scripted_llm, memory, sid
) -> None:
    memory.append(sid, [("Human", "whats my name?"), ("AI", " Bob.")], context="Bob said hi.")
    conversation.turn("and now?")
    assert scripted_llm.requests[-1].prompt == (
        "You are a chatbot having a conversation with a human.\n\n"
        "Summary of earlier conversation: Bob said hi.\n"
        "Human: whats my name?\n"
        "AI:  Bob.\n"
        "Human: and now?\n"
        "AI:"
    )


def test_switching_session_takes_effect_on_the_next_turn(
    conversation, scripted_llm, memory, sid
) -> None:
    conversation.turn("first")
    conversation.session_id = sid + "-b"
    conversation.turn("second")
    assert [m[1] for m in memory.memory(sid).messages] == ["first", "OK"]
    assert [m[1] for m in memory.memory(sid + "-b").messages] == ["second", "OK"]


def test_tokens_are_streamed_as_they_arrive(conversation, scripted_llm) -> None:
    scripted_llm.script[:] = [" Hi Bob, nice to meet you!"]
    tokens: list[str] = []
    answer = conversation.turn("hi", on_token=tokens.append)
    assert answer == " Hi Bob, nice to meet you!"
    assert len(tokens) > 1 and "".join(tokens) == answer


def test_a_model_that_does_not_stream_gives_the_answer_once(scripted_llm, memory_url, sid) -> None:
    conv = Conversation(settings_for(scripted_llm, stream=False), MotorheadClient(memory_url), sid)
    scripted_llm.script[:] = [" Whole."]
    tokens: list[str] = []
    assert conv.turn("hi", on_token=tokens.append) == " Whole."
    assert tokens == [" Whole."]
    conv.close()


def test_an_interrupted_answer_is_not_saved(conversation, scripted_llm, memory, sid) -> None:
    scripted_llm.script[:] = [" a long answer that gets interrupted"]

    def interrupt(token: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conversation.turn("hi", on_token=interrupt)
    assert memory.memory(sid).messages == []


def test_the_llm_is_built_once(conversation, scripted_llm) -> None:
    conversation.turn("one")
    chain = conversation._chain
    conversation.turn("two")
    assert conversation._chain is chain


def test_the_verbose_trace_goes_to_the_trace_stream(scripted_llm, memory_url, sid, capsys) -> None:
    import io

    trace = io.StringIO()
    conv = Conversation(
        settings_for(scripted_llm), MotorheadClient(memory_url), sid, verbose=True, trace=trace
    )
    conv.turn("hi im bob")
    conv.close()
    assert "Prompt after formatting:" in trace.getvalue()
    assert capsys.readouterr().out == ""


def test_a_down_memory_server_stops_the_turn_before_the_llm(scripted_llm, sid) -> None:
    conv = Conversation(
        settings_for(scripted_llm), MotorheadClient(f"http://127.0.0.1:{free_port()}"), sid
    )
    with pytest.raises(MemoryServerError, match="is not answering"):
        conv.turn("hi")
    assert scripted_llm.requests == []
