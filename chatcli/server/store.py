"""What the API needs from storage, and nothing about how a store keeps it.

Two implementations: `SQLiteStore` (sqlite_store.py, the embedded default) and
`RedisStore` (redis_store.py, Motörhead's key layout). The API layer and the
compactor only ever hold a `Store`.

Compaction is split in two steps so that a store never loses a message: `pending`
hands out the oldest messages beyond the kept half together with a store-specific
`marker` of the store's own type (a `Store[M]` hands out and takes back `Pending[M]`),
the LLM runs with no lock on the data, and `commit_summary` removes exactly the messages
the marker names (nothing posted meanwhile) while storing the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Memory:
    messages: list[Message]
    """Newest first, as Motörhead returns them."""
    context: str | None
    tokens: int


def message_line(message: Message) -> str:
    """Motörhead's stored form of a message ("role: content"), which is also how its summary
    prompt shows it: Redis stores it, the summarizer sends it."""
    return f"{message.role}: {message.content}"


def wire_memory(memory: Memory) -> dict[str, Any]:
    """A memory as Motörhead's GET answers it: what the API sends and what the CLI's
    direct reads of the embedded file must equal."""
    return {
        "messages": [{"role": m.role, "content": m.content} for m in memory.messages],
        "context": memory.context,
        "tokens": memory.tokens,
    }


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key to record with an append, in the same atomic write: a store
    that already holds an unexpired record of `key` raises AlreadyClaimed and appends
    nothing. What a repeated key means is the service's rule; the store only keeps it."""

    key: str
    session_id: str
    digest: str
    """Names the request's content (validation.post_digest)."""
    ttl: float
    """Seconds the record is kept."""


class AlreadyClaimed(Exception):
    """The key is already recorded; carries what it was recorded with."""

    def __init__(self, session_id: str, digest: str) -> None:
        super().__init__(f"idempotency key already used for session {session_id}")
        self.session_id = session_id
        self.digest = digest


M = TypeVar("M")
"""A store's marker type: only the store that handed a marker out ever reads it."""


@dataclass(frozen=True)
class Pending(Generic[M]):
    """Messages handed to the summarizer; `commit_summary` removes exactly these."""

    session_id: str
    messages: list[Message]
    """Chronological (oldest first), as the summarizer reads them."""
    context: str | None
    marker: M
    """Store-specific proof of which messages these are (SQLite's id range, Redis's tail)."""


class Store(Protocol[M]):
    name: str
    """'sqlite' or 'redis', for the start-up line and logs."""

    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        context: str | None,
        namespace: str | None,
        now: float,
        claim: Claim | None = None,
    ) -> int:
        """Append in array order, replace the summary when `context` is given, and record the
        session in the (namespace's) index scored by `now` (unix seconds). Returns how many
        messages the session holds afterwards. With a `claim`, records it in the same atomic
        write, or raises AlreadyClaimed and writes nothing when its key is recorded already."""

    async def get(self, session_id: str, limit: int) -> Memory:
        """The newest `limit` messages (newest first), the summary and the token count.
        An unknown session is an empty Memory, never an error."""

    async def delete(self, session_id: str, namespace: str | None) -> None:
        """Remove messages, summary, token count and the entry in the (namespace's) index."""

    async def list_sessions(self, namespace: str | None, offset: int, limit: int) -> list[str]:
        """Session ids by last write, oldest first."""

    async def count(self, session_id: str) -> int:
        """How many messages the session holds (kept and not yet summarized)."""

    async def pending(self, session_id: str, keep: int) -> Pending[M] | None:
        """Every message beyond the newest `keep`, oldest first, or None when there are none."""

    async def commit_summary(self, pending: Pending[M], summary: str, tokens: int) -> bool:
        """Atomically: store `summary` as the context, add `tokens`, remove exactly the
        messages of `pending`. False (and no change) when those messages are no longer
        there as handed out, e.g. the session was deleted meanwhile."""

    async def try_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        """Take the session's compaction lock for `ttl` seconds, across processes and
        replicas; False when someone else holds an unexpired lock."""

    async def refresh_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        """Extend a lock we hold; False when we no longer hold it."""

    async def unlock(self, session_id: str, owner: str) -> None:
        """Release a lock we hold; a lock someone else took after ours expired is left alone."""

    async def sessions_over(self, window: int) -> list[str]:
        """Sessions holding more than `window` messages: compaction to resume at start-up."""

    async def ping(self) -> None:
        """Raise when the backing store is unreachable."""

    async def close(self) -> None: ...
