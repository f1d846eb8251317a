"""The server's own failures, so it never raises the CLI's errors.

Two boundaries turn them into what a user sees: the app's exception handlers (an HTTP
status, with `{"error": ...}`) and `chatcli/runner.py` for `chatcli serve` and the CLI's
direct reads (an exit status). Each carries a one-line message that names the fix.
"""

from __future__ import annotations


class ServerError(Exception):
    """A failure of the memory server; `message` is fit to show the operator as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SetupError(ServerError):
    """The server's settings cannot be used (a bad store URL, no SQLite file, a public
    bind without a key): the operator's input is wrong, like a usage error."""


class StoreUnavailable(ServerError):
    """The backing store cannot answer (Redis down, the SQLite file unreadable or busy).

    The message may name hosts, ports and paths: it goes to logs and the operator's
    terminal, never into an HTTP answer."""


class ServeError(ServerError):
    """The server cannot listen where it was told to, or did not start."""


class BadInput(Exception):
    """A request the server refuses: `status` is the 4xx, `message` goes in `{"error": ...}`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RecallDisabled(Exception):
    """Long-term memory is off: /retrieval answers Motörhead's own plain-text 400."""

    MESSAGE = "Long term memory is disabled"
