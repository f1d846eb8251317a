"""What every caller asks of the memory, whichever transport answers it.

Commands, the REPL and the LangChain memory hold a `MemoryClient` and never know
whether it speaks HTTP (MotorheadClient) or reads the embedded file (DirectClient).
Failures are the CLI's errors: MemoryServerError when the memory is down or answers
nonsense, UsageError (worded by `refused_input`) when it refuses what the user gave.
"""

from __future__ import annotations

from typing import Any, Protocol

from chatcli.errors import RecallDisabled, UsageError
from chatcli.memory.session import (
    Hit,
    Recalled,
    SessionMemory,
    TranscriptMessage,
    TranscriptPage,
)


class MemoryClient(Protocol):
    where: str
    """Where the sessions live, in words a user can act on: "the memory server at URL",
    "the embedded memory at FILE" (an embedded server's port means nothing to a user)."""

    def health(self) -> int:
        """The server's clock in ms; an answer proves the memory is up and takes our key."""
        ...

    def sessions(self, namespace: str | None = None, page: int = 1, size: int = 10) -> list[str]:
        """Session ids by last write, oldest first."""
        ...

    def memory_raw(self, session_id: str) -> dict[str, Any]:
        """Motörhead's own JSON for a session, for `history --json`."""
        ...

    def memory(self, session_id: str) -> SessionMemory: ...

    def append(
        self,
        session_id: str,
        messages: list[tuple[str, str]],
        *,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Add messages in order; `context` replaces the summary, as in Motörhead."""
        ...

    def delete(self, session_id: str, namespace: str | None = None) -> None: ...

    def retrieve(self, session_id: str, text: str) -> list[Recalled]:
        """Motörhead's long-term memory: at most 10 of the session's messages (window
        included) nearest to `text`, nearest first. RecallDisabled when the server's
        long-term memory is off."""
        ...

    # chatcli's extension: the whole record under Motörhead's window. A server without it
    # (a Motörhead) makes these raise NeedsChatcliServer; an unknown message, NotFound.

    def transcript(
        self, session_id: str, *, after: str | None = None, limit: int = 100
    ) -> TranscriptPage:
        """A page of every message kept, oldest first; `next` continues it."""
        ...

    def forget(self, session_id: str, message_id: str) -> None:
        """Remove one message everywhere it is held (a summary covering it is rebuilt)."""
        ...

    def edit(self, session_id: str, message_id: str, content: str) -> TranscriptMessage:
        """Replace one message's content everywhere it is held."""
        ...

    def fork(
        self, session_id: str, to: str, *, at: str | None = None, namespace: str | None = None
    ) -> int:
        """Copy the transcript (up to and including `at`) into the new session `to`, same
        ids; returns how many messages it holds. UsageError when `to` already has data."""
        ...

    def import_messages(
        self,
        session_id: str,
        messages: list[TranscriptMessage],
        *,
        context: str | None = None,
        tokens: int | None = None,
        namespace: str | None = None,
    ) -> tuple[int, int]:
        """Add messages with their own ids and times; ids the session holds are skipped.
        Returns (added, skipped). At most server.max_messages_per_post a call."""
        ...

    def search(self, text: str, session_id: str | None, limit: int) -> list[Hit]:
        """Messages nearest to `text` in one session, or in every one (None), nearest
        first, at most `limit`. RecallDisabled when the long-term memory is off."""
        ...

    def close(self) -> None: ...


def refused_input(reason: str) -> UsageError:
    """The memory's refusal of what the user gave (an id, a namespace, a size), worded
    the same whether it came over HTTP or from the embedded file's own checks."""
    return UsageError(f"the memory server refused it: {reason}")


def recall_disabled(where: str) -> RecallDisabled:
    """The long-term memory's being off, worded the same from either transport."""
    return RecallDisabled(
        f"{where} has long-term memory off: turn on server.long_term_memory "
        "(`chatcli serve --long-term-memory`; MOTORHEAD_LONG_TERM_MEMORY=true for a Motörhead)"
    )
