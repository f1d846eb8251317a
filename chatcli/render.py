"""How sessions look on a terminal (Rich) and in a pipe (plain text), shared by manage and repl.

Rich is imported where it is used: `ask` needs only trace_stream, and `sessions` in a
pipe prints plain lines.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING

from chatcli.env import Environment
from chatcli.memory.session import SessionMemory
from chatcli.prompt import speaker

if TYPE_CHECKING:
    from rich.console import Console

ROLE_STYLES = {"Human": "bold cyan", "AI": "bold green"}


def console_for(env: Environment, stream: IO[str], *, force_plain: bool = False) -> Console:
    """Colour only on a terminal without NO_COLOR; plain text (no styles at all) when asked.

    Rich reads the command's environment rather than os.environ, so tests and NO_COLOR agree.
    """
    from rich.console import Console

    environ = dict(env.environ)
    if force_plain:
        return Console(
            file=stream,
            color_system=None,
            force_terminal=False,
            highlight=False,
            emoji=False,
            _environ=environ,
        )
    return Console(file=stream, no_color=env.no_color, highlight=False, _environ=environ)


def is_plain(console: Console) -> bool:
    return not console.is_terminal or console.color_system is None


def print_transcript(console: Console, memory: SessionMemory, *, raw: bool = False) -> None:
    """The summary first (it stands for everything older), then the turns, oldest first."""
    if raw or is_plain(console):
        _print_plain(console, memory)
        return
    from rich.panel import Panel
    from rich.text import Text

    if memory.summary is not None:
        console.print(Panel(Text(memory.summary), title="summary", title_align="left"))
    for role, content in memory.messages:
        line = Text(f"{role or '?'}: ", style=ROLE_STYLES[speaker(role)])
        line.append(content.strip())
        console.print(line)


def _print_plain(console: Console, memory: SessionMemory) -> None:
    lines: list[str] = []
    if memory.summary is not None:
        lines += [f"Summary: {memory.summary.strip()}", ""]
    lines += [f"{role or '?'}: {content.strip()}" for role, content in memory.messages]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class PlainWriter:
    """A text stream that drops ANSI escapes: LangChain colours its verbose trace itself."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(ANSI_ESCAPE.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def trace_stream(env: Environment) -> IO[str]:
    """Where --verbose traces go: stderr, in colour only on a terminal without NO_COLOR."""
    if env.stderr_isatty and not env.no_color:
        return env.stderr
    return PlainWriter(env.stderr)  # type: ignore[return-value]
