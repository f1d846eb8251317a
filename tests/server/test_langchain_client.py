"""LangChain's own MotorheadMemory (langchain_community, unchanged) against our server,
on both stores: what the seed notebook does, turn by turn."""

from __future__ import annotations

import asyncio
import warnings

from tests.server.conftest import Live

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain_community.memory.motorhead_memory import MotorheadMemory

BOB_TURNS = [
    ("hi im bob", " Hi Bob, nice to meet you! How are you doing today?"),
    ("whats my name?", " You said your name is Bob. Is that correct?"),
]


def memory_for(live: Live, session_id: str) -> MotorheadMemory:
    return MotorheadMemory(session_id=session_id, url=live.url, memory_key="chat_history")


def test_save_context_turns_are_loaded_back_in_order_by_a_new_memory(live: Live) -> None:
    session_id = live.new_id("bob")
    writer = memory_for(live, session_id)
    asyncio.run(writer.init())
    for human, ai in BOB_TURNS:
        writer.save_context({"human_input": human}, {"text": ai})

    reader = memory_for(live, session_id)
    asyncio.run(reader.init())

    loaded = [(m.type, m.content) for m in reader.chat_memory.messages]
    assert loaded == [
        ("human", "hi im bob"),
        ("ai", " Hi Bob, nice to meet you! How are you doing today?"),
        ("human", "whats my name?"),
        ("ai", " You said your name is Bob. Is that correct?"),
    ]


def test_the_loaded_history_renders_as_the_seed_prompt_shows_it(live: Live) -> None:
    session_id = live.new_id("bob")
    writer = memory_for(live, session_id)
    for human, ai in BOB_TURNS:
        writer.save_context({"human_input": human}, {"text": ai})

    reader = memory_for(live, session_id)
    asyncio.run(reader.init())

    assert reader.load_memory_variables({})["chat_history"] == (
        "Human: hi im bob\n"
        "AI:  Hi Bob, nice to meet you! How are you doing today?\n"
        "Human: whats my name?\n"
        "AI:  You said your name is Bob. Is that correct?"
    )


def test_a_new_session_loads_nothing(live: Live) -> None:
    reader = memory_for(live, live.new_id("nobody"))
    asyncio.run(reader.init())
    assert reader.chat_memory.messages == []
    assert reader.context is None
