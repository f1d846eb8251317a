"""The seed's bob-style prompt, and the `chat_history` text that fills it.

Kept free of LangChain so the exact text can be tested, timed and reused cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence

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
RECALL_HEADING = "Earlier messages that may be relevant:"
RECALL_BULLET = "- "
RECALL_MAX_GAP = 0.25
"""A recalled message this much farther than the one recalled before it is left out, with
all after it. chatcli's `dist` puts what both its keyword and its dense search found below
0.5 and what only one found above: a small model told "AI: Paris." beside the one message
that answers the question repeats Paris. Motörhead's cosine distances rarely jump so far
between neighbours, so there it is the first `k`."""


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


def recall_block(
    window: Sequence[tuple[str, str]], recalled: Sequence[tuple[str, str, float]], k: int
) -> list[str]:
    """The prompt's lines for what long-term memory found (role, content, dist; nearest
    first, as /retrieval ranks them): the first `k` that the window does not already show,
    cut where the distance jumps by more than RECALL_MAX_GAP, under a heading; no lines at
    all when none is left.

    /retrieval searches the whole transcript, window included, so a session with nothing
    beyond its window recalls only what the prompt holds already, and its prompt stays
    the seed's byte for byte. A message is known by its speaker and text: the same words
    said again are in the prompt already, wherever the earlier copy stands."""
    shown = {(speaker(role), content.strip()) for role, content in window}
    picked: list[str] = []
    last: float | None = None
    for role, content, dist in recalled:
        if len(picked) >= k or (last is not None and dist - last > RECALL_MAX_GAP):
            break
        key = (speaker(role), content.strip())
        if key in shown or not key[1]:
            continue
        shown.add(key)
        last = dist
        picked.append(f"{RECALL_BULLET}{key[0]}: {' '.join(key[1].split())}")
    return [RECALL_HEADING, *picked] if picked else []


def chat_history_text(
    context: str | None, messages: list[tuple[str, str]], recall: Sequence[str] = ()
) -> str:
    """What LangChain's get_buffer_string gives for the turns, with the summary and then
    the recall block (recall_block's lines) ahead of them.

    With neither this is exactly the stock MotorheadMemory's text, so the prompt is the seed's.
    """
    lines = [*recall, *(f"{speaker(role)}: {content}" for role, content in messages)]
    if has_summary(context):
        assert context is not None
        lines.insert(0, SUMMARY_PREFIX + context.strip())
    return "\n".join(lines)


def format_prompt(
    context: str | None,
    messages: list[tuple[str, str]],
    human_input: str,
    system: str = SYSTEM,
    recall: Sequence[str] = (),
) -> str:
    """The prompt the chain sends, without LangChain: for the bench and tests."""
    return template(system).format(
        chat_history=chat_history_text(context, messages, recall), human_input=human_input
    )
