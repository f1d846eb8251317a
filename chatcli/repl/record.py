"""The REPL's view of the whole record: which messages /undo and /retry take, and the
lines /history shows. Plain functions over transcript messages, tested without a server."""

from __future__ import annotations

from chatcli.memory.session import TranscriptMessage

HUMAN = "Human"
PREVIEW = 60
"""Characters of a message quoted back in a status line."""


def last_exchange(messages: list[TranscriptMessage]) -> list[TranscriptMessage]:
    """The last Human message and everything after it (its answer), oldest first; empty
    when the session has no Human message."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == HUMAN:
            return messages[index:]
    return []


def preview(text: str) -> str:
    """A message on one short line, for saying what was removed or asked again."""
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW else line[: PREVIEW - 1] + "…"


def history_lines(summary: str | None, messages: list[TranscriptMessage]) -> list[str]:
    """The summary first, then each message with its id; a line marks where the summary's
    part ends and the window the model still sees word for word begins."""
    lines: list[str] = []
    if summary is not None:
        lines += [f"Summary: {summary.strip()}", ""]
    last_summarized = max((i for i, m in enumerate(messages) if m.summarized), default=None)
    for index, message in enumerate(messages):
        lines.append(f"[{message.id}] {message.role or '?'}: {message.content.strip()}")
        if index == last_summarized and index < len(messages) - 1:
            lines.append("(the summary covers the messages above; the model sees those below)")
    return lines
