"""How `chatcli history` shows the whole transcript: each message with its id, the
summary marked where it stands (after the messages it covers), plain in a pipe.

The ids are printed in full: they are what `forget`, `edit` and `fork --at` take.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatcli.memory.session import TranscriptMessage
from chatcli.prompt import speaker
from chatcli.render import ROLE_STYLES, is_plain
from chatcli.transcripts import Transcript

if TYPE_CHECKING:
    from rich.console import Console


def summary_label(above: int, earlier: int) -> str:
    """What the summary stands for: the summarized messages shown above it, and those
    left out by --limit/--since."""
    parts = []
    if above:
        parts.append(f"the {plural(above)} above")
    if earlier:
        parts.append(f"{plural(earlier)} earlier" if not above else f"{earlier} earlier")
    return "summary of " + " and ".join(parts) if parts else "summary"


def plural(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


def boundary(messages: list[TranscriptMessage]) -> int:
    """Where the summary stands: before the first message it does not cover."""
    for index, message in enumerate(messages):
        if not message.summarized:
            return index
    return len(messages)


def print_full_transcript(
    console: Console, transcript: Transcript, summary: str | None, *, raw: bool = False
) -> None:
    messages = transcript.messages
    split = boundary(messages)
    above = sum(m.summarized for m in messages[:split])
    label = summary_label(above, transcript.summarized - above)
    plain = raw or is_plain(console)
    for index, message in enumerate(messages):
        if index == split and summary is not None:
            _print_summary(console, label, summary, plain=plain)
        _print_message(console, message, plain=plain)
    if split == len(messages) and summary is not None:
        _print_summary(console, label, summary, plain=plain)


def _print_summary(console: Console, label: str, summary: str, *, plain: bool) -> None:
    if plain:
        for line in (f"── {label} ──", summary.strip(), ""):
            console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)
        return
    from rich.panel import Panel
    from rich.text import Text

    console.print(Panel(Text(summary.strip()), title=label, title_align="left", border_style="dim"))


def _print_message(console: Console, message: TranscriptMessage, *, plain: bool) -> None:
    role = message.role or "?"
    if plain:
        line = f"{message.id}  {role}: {message.content.strip()}"
        console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)
        return
    from rich.text import Text

    text = Text()
    text.append(message.id, style="dim")
    text.append("  ")
    text.append(f"{role}: ", style=ROLE_STYLES[speaker(message.role)])
    text.append(message.content.strip())
    if message.summarized:
        text.stylize("dim")
    console.print(text)
