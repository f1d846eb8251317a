"""What a line typed at the REPL means: a slash command, a message, or part of a `\"\"\"` block.

Pure functions and small value types, so the REPL's grammar is tested without a terminal,
a server or a model.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS: dict[str, str] = {
    "help": "show these commands",
    "history": "show this session's summary and every message, with its id",
    "summary": "show the summary the memory server keeps for this session",
    "sessions": "list the memory server's sessions",
    "session": "/session ID: switch to session ID (new if unknown); alone: show the current one",
    "new": "start a new session",
    "clear": "delete this session's memory on the server",
    "undo": "remove the last exchange: your last message and its answer",
    "retry": "ask the last question again and replace its answer",
    "forget": "/forget ID: remove one message (the ids are in /history)",
    "fork": "/fork NEW: copy this session into session NEW and switch to it",
    "search": "/search WORDS: this session's messages nearest WORDS, with their ids",
    "recall": "/recall on|off: put relevant messages from beyond the window in the prompt",
    "edit": "write the next message in $VISUAL or $EDITOR; saving it sends it",
    "copy": "copy the last answer to the clipboard",
    "verbose": "toggle LangChain's chain trace (on stderr)",
    "exit": "leave (also /quit or Ctrl-D)",
}
ALIASES: dict[str, str] = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}
TAKES_ARGUMENT = frozenset({"session", "forget", "fork", "search", "recall"})
NEEDS_ARGUMENT: dict[str, str] = {
    "forget": "/forget takes a message id: see /history for them",
    "fork": "/fork takes the new session's id: /fork NEW",
    "search": "/search takes the words to look for: /search WORDS",
}
"""What a command that cannot run without its argument says when it has none."""
CHOICES: dict[str, tuple[str, ...]] = {"recall": ("on", "off")}
"""The only arguments these commands take (alone, they show the current state)."""
NAMES_SESSION = frozenset({"session", "fork"})

BLOCK = '"""'


@dataclass(frozen=True)
class Slash:
    """A slash command: `name` is canonical (aliases resolved); `error` says why it cannot run."""

    name: str
    arg: str | None = None
    error: str | None = None


def parse_line(line: str) -> Slash | str | None:
    """A Slash for a command, the text to send for a message, None for a blank line.

    A line starting with "//" sends the rest with a single "/", so a message may start with one.
    """
    text = line.strip()
    if not text:
        return None
    if text.startswith("//"):
        return text[1:]
    if text.startswith("/") and len(text) > 1 and not text[1].isspace():
        return parse_slash(text)
    return text


def parse_slash(text: str) -> Slash:
    """Parse '/name [argument]'; unknown names and misused arguments become a Slash with error."""
    word, _, rest = text[1:].strip().partition(" ")
    typed = word.lower()
    name = ALIASES.get(typed, typed)
    arg = rest.strip() or None
    if name not in COMMANDS:
        return Slash("unknown", typed, f"unknown command /{word}: type /help for the commands")
    if name in NAMES_SESSION and arg is not None:
        problem = session_id_problem(arg)
        if problem:
            return Slash(name, arg, problem)
    elif arg is not None and name not in TAKES_ARGUMENT:
        return Slash(name, arg, f"/{name} takes no argument")
    elif arg is not None and name in CHOICES:
        arg = arg.lower()
        if arg not in CHOICES[name]:
            return Slash(name, arg, f"/{name} takes {' or '.join(CHOICES[name])}, not {arg!r}")
    return Slash(name, arg)


def session_id_problem(session_id: str) -> str | None:
    """Why `session_id` cannot be used, or None when it can: the server's own rule and
    wording, checked here so a typo fails before a request."""
    from chatcli.server.validation import id_problem

    return id_problem("session id", session_id, repr(session_id))


def help_text() -> str:
    width = max(len(name) for name in COMMANDS) + 1
    lines = [f"/{name:<{width}} {about}" for name, about in COMMANDS.items()]
    lines.append("")
    lines.append(
        'Enter sends; Alt-Enter (or Esc then Enter) adds a line; a """ line starts and ends '
        "a multi-line message; start a message with // to send a leading /."
    )
    lines.append("Ctrl-C stops an answer; Ctrl-D leaves.")
    return "\n".join(lines)


class BlockReader:
    """Collects a multi-line message typed between two `\"\"\"` lines, as llm's chat does.

    `feed` returns the finished text, or None while a block is still open (the REPL then
    shows a continuation prompt).
    """

    def __init__(self) -> None:
        self._lines: list[str] | None = None

    @property
    def open(self) -> bool:
        return self._lines is not None

    def wants(self, line: str) -> bool:
        """Whether `line` belongs to a block: it opens one, or one is open."""
        return self._lines is not None or line.strip().startswith(BLOCK)

    def feed(self, line: str) -> str | None:
        """Take a line for which `wants` is true."""
        if self._lines is None:
            stripped = line.strip()
            body = stripped[len(BLOCK) :]
            if len(body) >= len(BLOCK) and body.endswith(BLOCK):
                return body[: -len(BLOCK)]
            self._lines = [body] if body else []
            return None
        if line.rstrip().endswith(BLOCK):
            last = line.rstrip()[: -len(BLOCK)]
            if last:
                self._lines.append(last)
            text = "\n".join(self._lines)
            self._lines = None
            return text
        self._lines.append(line)
        return None

    def reset(self) -> None:
        self._lines = None
