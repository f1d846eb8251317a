"""The bob prompt and its chat_history text, as pure functions."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, get_buffer_string

from chatcli.prompt import (
    SYSTEM,
    TEMPLATE,
    chat_history_text,
    format_prompt,
    stored_reply,
    template,
)

TURNS = [
    ("Human", "hi im bob"),
    ("AI", " Hi Bob, nice to meet you! How are you doing today?"),
    ("Human", "whats my name?"),
    ("AI", " You said your name is Bob. Is that correct?"),
]


def test_the_template_is_the_seeds() -> None:
    assert TEMPLATE == (
        "You are a chatbot having a conversation with a human.\n"
        "\n"
        "{chat_history}\n"
        "Human: {human_input}\n"
        "AI:"
    )


def test_without_a_summary_the_history_is_langchains_buffer_string() -> None:
    messages = [HumanMessage(c) if r == "Human" else AIMessage(c) for r, c in TURNS]
    assert chat_history_text(None, TURNS) == get_buffer_string(messages)


def test_an_empty_session_gives_an_empty_history() -> None:
    assert chat_history_text(None, []) == ""


def test_a_summary_goes_ahead_of_the_turns() -> None:
    assert chat_history_text("Bob introduced himself.", TURNS[2:]) == (
        "Summary of earlier conversation: Bob introduced himself.\n"
        "Human: whats my name?\n"
        "AI:  You said your name is Bob. Is that correct?"
    )


def test_motorheads_none_summary_is_no_summary() -> None:
    assert chat_history_text("NONE", TURNS[:2]) == chat_history_text(None, TURNS[:2])


def test_roles_other_than_ai_read_as_human_like_langchains_client() -> None:
    assert chat_history_text(None, [("user", "hello")]) == "Human: hello"


def test_the_first_prompt_of_the_seed() -> None:
    assert format_prompt(None, [], "hi im bob") == (
        "You are a chatbot having a conversation with a human.\n\n\nHuman: hi im bob\nAI:"
    )


def test_the_system_line_is_a_parameter_whose_default_is_the_seeds() -> None:
    assert template() == TEMPLATE
    assert template("Be brief.") == TEMPLATE.replace(SYSTEM, "Be brief.")


def test_braces_in_the_system_line_are_text_not_variables() -> None:
    assert format_prompt(None, [], "hi", system="Use {json}.") == "Use {json}.\n\n\nHuman: hi\nAI:"


def test_a_reply_keeps_one_leading_space_of_many() -> None:
    assert stored_reply("        What is my cat called?") == " What is my cat called?"


def test_a_reply_starting_with_the_seeds_one_space_is_kept_as_is() -> None:
    assert stored_reply(" Hi Bob, nice to meet you!") == " Hi Bob, nice to meet you!"


def test_a_reply_without_a_leading_space_gets_none() -> None:
    assert stored_reply("Hi Bob.") == "Hi Bob."


def test_leading_newlines_count_as_leading_space() -> None:
    assert stored_reply("\n\n  Hi Bob.") == " Hi Bob."


def test_a_replys_trailing_blank_space_is_dropped() -> None:
    assert stored_reply(" Hi Bob.\n\n  ") == " Hi Bob."


def test_a_blank_reply_is_stored_empty() -> None:
    assert stored_reply("   \n") == ""
