"""The seed's bob-style prompt, and the `chat_history` text that fills it.

Kept free of LangChain so the exact text can be tested, timed and reused cheaply.
"""

from __future__ import annotations

SYSTEM = "You are a chatbot having a conversation with a human."
"""The seed's system line: the default of chat.system and --system."""


def template(system: str = SYSTEM) -> str:
    """The bob prompt with `system` as its first line; braces in it are escaped, so a
    user's line is text to the template, never a variable. The default is the seed's."""
    line = system.replace("{", "{{").replace("}", "}}")
    return line + "\n\n{chat_history}\nHuman: {human_input}\nAI:"


TEMPLATE = template()

INPUT_VARIABLES = ["chat_history", "human_input"]
SUMMARY_PREFIX = "Summary of earlier conversation: "


def speaker(role: str) -> str:
    """Motörhead's roles are free text; like LangChain's client, only 'AI' is the assistant."""
    return "AI" if role == "AI" else "Human"


def stored_reply(answer: str) -> str:
    """An AI reply as the memory keeps it: the seed's one leading space at most ("AI:  Hi Bob"
    in its prompt), and no blank space at the end.

    A base model copies the transcript it continues: a reply stored with the spaces it
    began with teaches the next reply to begin with more, and they grow turn by turn.
    """
    body = answer.strip()
    return " " + body if body and answer[0].isspace() else body


def has_summary(context: str | None) -> bool:
    """Motörhead's summarizer answers 'NONE' for meaningless lines; that is no summary."""
    return bool(context and context.strip() and context.strip() != "NONE")


def chat_history_text(context: str | None, messages: list[tuple[str, str]]) -> str:
    """What LangChain's get_buffer_string gives for the turns, with the summary ahead of them.

    With no summary this is exactly the stock MotorheadMemory's text, so the prompt is the seed's.
    """
    lines = [f"{speaker(role)}: {content}" for role, content in messages]
    if has_summary(context):
        assert context is not None
        lines.insert(0, SUMMARY_PREFIX + context.strip())
    return "\n".join(lines)


def format_prompt(
    context: str | None,
    messages: list[tuple[str, str]],
    human_input: str,
    system: str = SYSTEM,
) -> str:
    """The prompt the chain sends, without LangChain: for the bench and tests."""
    return template(system).format(
        chat_history=chat_history_text(context, messages), human_input=human_input
    )
