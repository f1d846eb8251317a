"""What the API needs from storage, and nothing about how a store keeps it.

Two implementations: `SQLiteStore` (sqlite_store.py, the embedded default) and
`RedisStore` (redis_store.py, Motörhead's key layout). The API layer and the
compactor only ever hold a `Store`.

Compaction is split in two steps so that a store never loses a message: `pending`
hands out the oldest messages beyond the kept half together with a store-specific
`marker` of the store's own type (a `Store[M]` hands out and takes back `Pending[M]`),
the LLM runs with no lock on the data, and `commit_summary` removes exactly the messages
the marker names (nothing posted meanwhile) while storing the summary.

Underneath the window every store keeps the session's transcript: every message ever
posted, with a stable id and its time, in posting order, until the user deletes it or the
session. Compaction only marks transcript entries `summarized` (they left the window); it
never removes them. Editing or deleting an entry that was already summarized leaves the
summary stale, which the store records as a persistent rebuild token until `commit_rebuild`
stores a summary rebuilt from the transcript.

For long-term recall every store also keeps, per transcript message, a keyword entry
(written with the message, so a search finds it at once) and a vector tagged with the
embedding model's name (written later by the indexer, indexer.py). Which messages still
lack a vector of the current model is the store's durable state, not a queue in memory,
so a killed server leaves nothing unindexed for good; a vector of another model is never
searched, only replaced. Deleting or editing a message removes its entry and vector (an
edit is then indexed afresh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np


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


ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32 in lower case: ids sort as strings the way their numbers do."""
ID_TIME_DIGITS = 10
ID_SEQ_DIGITS = 6


def _base32(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        digits.append(ID_ALPHABET[digit])
    return "".join(reversed(digits))


def message_id(ms: int, seq: int) -> str:
    """A message's public id: its time (unix ms, 10 digits) then its place in the session
    (6 digits), both base32. The stores keep `ms` from going backwards and `seq` from
    repeating within a session, so a session's generated ids are unique and increase in
    posting order; the Redis scripts build the same string in Lua."""
    return _base32(ms, ID_TIME_DIGITS) + _base32(seq, ID_SEQ_DIGITS)


@dataclass(frozen=True)
class Entry:
    """One message of the transcript."""

    id: str
    role: str
    content: str
    created_at: int
    """Unix time in milliseconds (an integer, so it round-trips exactly through every store)."""
    summarized: bool
    """It left the window: the summary covers it."""
    seq: int
    """Its place in the session's transcript (store-internal; pages continue after it)."""


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    """Oldest first."""
    next: int | None
    """The `after` of the next page, or None when this one reached the end."""
    namespace: str | None
    """The namespace the session was last posted with."""


@dataclass(frozen=True)
class NewEntry:
    """A message to import with its own id and time."""

    id: str
    role: str
    content: str
    created_at: int
    summarized: bool


class ForkStatus(Enum):
    OK = "ok"
    NO_SOURCE = "no_source"
    NO_MESSAGE = "no_message"
    TARGET_EXISTS = "target_exists"


@dataclass(frozen=True)
class Forked:
    status: ForkStatus
    messages: int = 0
    """Transcript messages the fork holds."""
    window: int = 0
    """Messages in the fork's window (compaction takes over beyond it)."""


@dataclass(frozen=True)
class Imported:
    added: int
    """Messages new to the session (ids it already held are skipped)."""
    window: int
    """Messages in the window afterwards."""


@dataclass(frozen=True)
class Rebuild:
    """What a summary rebuild reads: every summarized entry, oldest first."""

    session_id: str
    messages: list[Message]
    token: str
    """The stale-summary token as read; `commit_rebuild` stores only while it is unchanged."""


def wire_entry(entry: Entry) -> dict[str, Any]:
    """A transcript entry as the API sends it."""
    return {
        "id": entry.id,
        "role": entry.role,
        "content": entry.content,
        "created_at": entry.created_at,
        "summarized": entry.summarized,
    }


@dataclass(frozen=True)
class ToEmbed:
    """A message the indexer is to embed, as `unindexed` hands it out."""

    session_id: str
    message_id: str
    text: str
    """What is embedded and keyword-indexed: "Role: content"."""
    mark: str
    """Store-specific proof of which version of the message this is (SQLite: its index
    row), so a vector of a message edited or deleted meanwhile is not stored."""


@dataclass(frozen=True)
class Found:
    """A search hit: the transcript entry and its session."""

    session_id: str
    entry: Entry
    score: float
    """Larger is better; comparable only within one result list (a keyword search's
    -bm25, or a dense search's cosine similarity)."""


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

    async def transcript(self, session_id: str, after: int, limit: int) -> Page:
        """Up to `limit` entries after position `after` (0 = from the start), oldest first.
        An unknown session is an empty page."""

    async def message(self, session_id: str, message_id: str) -> Entry | None:
        """One entry, or None when the session holds no message with that id."""

    async def delete_message(self, session_id: str, message_id: str, token: str) -> Entry | None:
        """Remove the entry from the transcript and, when there, from the window; when it
        was summarized, mark the summary stale with `token`. The removed entry, or None."""

    async def edit_message(
        self, session_id: str, message_id: str, content: str, token: str
    ) -> Entry | None:
        """Replace the entry's content in the transcript and in the window; when it was
        summarized, mark the summary stale with `token`. The edited entry, or None."""

    async def fork(
        self,
        source: str,
        target: str,
        at: str | None,
        namespace: str | None,
        token: str,
        now: float,
    ) -> Forked:
        """Copy the transcript up to `at` (inclusive; None = all) into the empty session
        `target`, same ids and times. When `at` is in the window, the fork keeps the
        summary, tokens and the window up to `at` (and `token` as a stale mark if the
        source's summary is stale); when `at` was summarized, the fork has no summary and
        every copied message is in its window, for compaction to summarize afresh."""

    async def import_messages(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        context: str | None,
        tokens: int | None,
        namespace: str | None,
        now: float,
    ) -> Imported:
        """Append the entries whose ids the session does not hold yet, in order; those not
        `summarized` also enter the window. `context` / `tokens`, when given, replace the
        summary / token count. Importing the same entries twice adds nothing."""

    async def needs_rebuild(self, session_id: str) -> bool:
        """Whether the session's summary is stale (a summarized entry was edited or deleted)."""

    async def rebuild_pending(self, session_id: str) -> Rebuild | None:
        """The summarized entries to rebuild the summary from, or None when it is not stale."""

    async def commit_rebuild(self, rebuild: Rebuild, summary: str | None, tokens: int) -> bool:
        """Store the rebuilt summary (None = no summary), add `tokens`, clear the stale mark;
        False and no change when the mark is no longer `rebuild.token` (edited again,
        deleted, rebuilt by someone else)."""

    async def sessions_to_rebuild(self) -> list[str]:
        """Sessions whose summary is stale: rebuilds to resume at start-up."""

    async def unindexed(self, model: str, limit: int) -> list[ToEmbed]:
        """Up to `limit` transcript messages holding no vector of `model` (none yet, or
        another model's), oldest first; those with none at all come first."""

    async def add_vectors(self, model: str, vectors: Sequence[tuple[ToEmbed, bytes]]) -> int:
        """Store each vector (float32, little-endian, unit length) for its message, tagged
        `model`, unless the message was deleted or edited since `unindexed` handed it out
        or already holds a vector of `model` (so a repeat stores nothing). Returns how
        many were stored."""

    async def backlog(self, model: str) -> int:
        """How many transcript messages hold no vector of `model`."""

    async def keyword_search(self, session_id: str | None, text: str, limit: int) -> list[Found]:
        """Up to `limit` messages of the session (None: of every session) matching any word
        of `text`, best first (BM25 over "Role: content")."""

    async def nearest(
        self, session_id: str | None, model: str, vector: np.ndarray, limit: int
    ) -> list[Found]:
        """The `limit` messages of the session (None: of every session) whose `model`
        vectors have the largest dot product with `vector`, exactly (not approximately),
        best first; messages without one are not candidates."""

    async def ping(self) -> None:
        """Raise when the backing store is unreachable."""

    async def close(self) -> None: ...
