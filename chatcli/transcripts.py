"""Reading a session's whole transcript through the client's cursor pages.

Shared by `history`, `clear` and the message commands, so each sees the record the same
way: oldest first, every page, in the largest pages the API allows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import TranscriptMessage
from chatcli.server.validation import MAX_TRANSCRIPT_PAGE


@dataclass(frozen=True)
class Transcript:
    messages: list[TranscriptMessage]
    """Oldest first: the ones asked for (all, or the last `limit` since a time)."""
    total: int
    """Messages the session holds, shown or not."""
    summarized: int
    """How many of all its messages the summary covers."""
    namespace: str | None
    """The namespace the session was last posted with."""


def read_transcript(
    client: MemoryClient,
    session: str,
    *,
    limit: int | None = None,
    since: int | None = None,
) -> Transcript:
    """Every page until `next` is None, keeping the last `limit` messages created at or
    after `since` (Unix ms). NeedsChatcliServer from a Motörhead, before anything."""
    kept: deque[TranscriptMessage] = deque(maxlen=limit)
    total = summarized = 0
    after: str | None = None
    namespace: str | None = None
    while True:
        page = client.transcript(session, after=after, limit=MAX_TRANSCRIPT_PAGE)
        namespace = page.namespace or namespace
        for message in page.messages:
            total += 1
            summarized += message.summarized
            if since is None or message.created_at >= since:
                kept.append(message)
        if page.next is None:
            break
        after = page.next
    return Transcript(list(kept), total, summarized, namespace)
