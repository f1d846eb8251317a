"""Where the REPL's lines come from: prompt_toolkit on a terminal, plain lines from a pipe.

The loop takes its input as a parameter, so Typer's CliRunner, a pty and a person all drive
the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Protocol

from chatcli.config import Settings
from chatcli.env import Environment

PROMPT = "> "
CONTINUATION = "... "


class InputSource(Protocol):
    """Where the REPL's lines come from. `read` raises EOFError at the end (Ctrl-D) and
    KeyboardInterrupt for Ctrl-C at the prompt."""

    interactive: bool
    """A person at a terminal: shown the keys, and asked before anything is deleted."""

    def read(self, continuation: bool = False) -> str: ...

    def confirm(self, question: str) -> bool: ...


class LineInput:
    """Lines from a pipe or a test's stdin, with no prompt: the output stays just the answers."""

    interactive = False

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def read(self, continuation: bool = False) -> str:
        line = self._stream.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n").rstrip("\r")

    def confirm(self, question: str) -> bool:
        """Nobody to ask: a scripted /clear means it."""
        return True


class TerminalInput:
    """prompt_toolkit line editing: Enter sends, Alt-Enter (Esc Enter) adds a line, and the
    history file makes up-arrow reach lines typed in earlier runs."""

    interactive = True

    def __init__(self, env: Environment, history_file: Path | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.input import create_input
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.output import create_output

        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        history: History = InMemoryHistory()
        if history_file is not None:
            try:
                history_file.parent.mkdir(parents=True, exist_ok=True)
                history_file.touch(exist_ok=True)
                history = FileHistory(str(history_file))
            except OSError as exc:
                print(
                    f"chatcli: warning: input history not kept: cannot write {history_file}: "
                    f"{exc.strerror}",
                    file=env.stderr,
                )
        self._input = create_input(env.stdin)
        # The prompt belongs on the terminal even when the answers are piped elsewhere.
        self._output = create_output(stdout=env.stdout if env.stdout_isatty else env.stderr)
        self._session: Any = PromptSession(
            history=history,
            key_bindings=bindings,
            multiline=False,
            prompt_continuation=lambda width, line, wrap: CONTINUATION.rjust(width),
            input=self._input,
            output=self._output,
        )
        self._make_session = PromptSession

    def read(self, continuation: bool = False) -> str:
        return self._session.prompt(CONTINUATION if continuation else PROMPT)

    def confirm(self, question: str) -> bool:
        asker = self._make_session(input=self._input, output=self._output)
        try:
            answer = asker.prompt(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in {"y", "yes"}


def default_input(env: Environment, settings: Settings) -> InputSource:
    if env.stdin_isatty:
        history = settings.chat.history_file
        return TerminalInput(env, Path(history).expanduser() if history else None)
    return LineInput(env.stdin)
