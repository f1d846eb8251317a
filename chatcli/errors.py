"""Every failure a user can cause or meet, as one exception family.

Commands raise these; `chatcli/runner.py` is the one place that turns them (and the
memory server's own errors, chatcli.server.errors) into a single line on stderr and an
exit status, so no command prints a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class ChatcliError(Exception):
    """A failure with a message fit to show a user as it is: it names the problem and the fix."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ChatcliError):
    """The command line or its input is wrong; exit 2 like any usage error."""

    exit_status = ExitStatus.USAGE


class ConfigError(ChatcliError):
    """The config file or an environment setting cannot be used."""

    exit_status = ExitStatus.USAGE


class MemoryServerError(ChatcliError):
    """The memory server is down, refused the request, or answered something unusable."""


class SessionNotFound(MemoryServerError):
    """The session holds nothing on the server (history of an unknown session)."""


class NotFound(MemoryServerError):
    """The memory has no such message (or no such session to fork), as its server said."""


class NeedsChatcliServer(MemoryServerError):
    """The memory server has no transcript routes: a Motörhead, or an older chatcli."""


class RecallDisabled(MemoryServerError):
    """The memory server's long-term memory is off (Motörhead's `400 Long term memory is
    disabled`): recall in the prompt quietly does without it; `chatcli search` cannot."""


class LLMError(ChatcliError):
    """The language model could not be reached, refused the key, or is not installed."""


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, or its class name when it has none,
    so an error line or a log line stays one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unexpected(exc: BaseException) -> str:
    """The words for a failure no layer expected (a bug): what it was, and how to see more."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {type(exc).__name__}: {detail} (run with --debug for the traceback)"
