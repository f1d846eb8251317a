"""Every failure a user can cause or meet, as one exception family.

Commands raise these; `chatcli.cli.main` is the one place that turns them into a
single line on stderr and an exit status, so no command prints a traceback.
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


class LLMError(ChatcliError):
    """The language model could not be reached, refused the key, or is not installed."""
