"""The bob prompt and its chat_history text, as pure functions."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, get_buffer_string

from chatcli.prompt import (
    RECALL_HEADING,
    SYSTEM,
    TEMPLATE,
    chat_history_text,
    format_prompt,
    recall_block,
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


# Recall: what long-term memory found, in the prompt beside the summary.

FACT = ("Human", "my sister Ana lives in Porto")


def found(*messages: tuple[str, str], step: float = 0.01) -> list[tuple[str, str, float]]:
    """What /retrieval answers for `messages`, nearest first, `step` apart."""
    return [(role, content, n * step) for n, (role, content) in enumerate(messages)]


def test_nothing_beyond_the_window_recalls_nothing() -> None:
    assert recall_block(TURNS, found(TURNS[2], TURNS[0], TURNS[3]), 3) == []


def test_with_nothing_recalled_the_prompt_is_the_seeds() -> None:
    recall = recall_block(TURNS, found(*TURNS), 3)
    assert format_prompt(None, TURNS, "hi", recall=recall) == format_prompt(None, TURNS, "hi")


def test_a_message_beyond_the_window_is_recalled_under_a_heading() -> None:
    assert recall_block(TURNS, found(TURNS[0], FACT), 3) == [
        RECALL_HEADING,
        "- Human: my sister Ana lives in Porto",
    ]


def test_at_most_k_are_recalled_nearest_first() -> None:
    near = found(("Human", "first"), ("AI", " second"), ("Human", "third"))
    assert recall_block([], near, 2) == [RECALL_HEADING, "- Human: first", "- AI: second"]


def test_messages_in_the_window_do_not_count_against_k() -> None:
    assert recall_block(TURNS, found(*TURNS, FACT), 1) == [RECALL_HEADING, "- " + ": ".join(FACT)]


def test_a_jump_in_distance_ends_what_is_recalled() -> None:
    near = [("Human", "the fact", 0.02), ("AI", " Paris.", 0.52), ("AI", " Lisbon.", 0.53)]
    assert recall_block([], near, 3) == [RECALL_HEADING, "- Human: the fact"]


def test_the_jump_is_measured_from_the_last_message_recalled_not_the_window() -> None:
    near = [("Human", "in the window", 0.0), ("Human", "beyond it", 0.4), ("AI", " too", 0.45)]
    assert recall_block([("Human", "in the window")], near, 3) == [
        RECALL_HEADING,
        "- Human: beyond it",
        "- AI: too",
    ]


def test_k_of_zero_recalls_nothing() -> None:
    assert recall_block([], found(FACT), 0) == []


def test_the_same_words_recalled_twice_are_shown_once() -> None:
    assert recall_block([], found(FACT, FACT), 3) == [RECALL_HEADING, "- " + ": ".join(FACT)]


def test_a_recalled_message_is_one_line_whatever_it_held() -> None:
    assert recall_block([], found(("Human", "line one\n\nline  two ")), 3)[1] == (
        "- Human: line one line two"
    )


def test_a_window_message_is_known_by_its_speaker_and_text_not_its_spacing() -> None:
    assert recall_block([("AI", " Bob.")], found(("AI", "Bob.")), 3) == []


def test_the_recall_block_stands_after_the_summary_and_ahead_of_the_turns() -> None:
    recall = recall_block(TURNS[2:], found(FACT), 3)
    assert chat_history_text("Bob introduced himself.", TURNS[2:], recall) == (
        "Summary of earlier conversation: Bob introduced himself.\n"
        f"{RECALL_HEADING}\n"
        "- Human: my sister Ana lives in Porto\n"
        "Human: whats my name?\n"
        "AI:  You said your name is Bob. Is that correct?"
    )
