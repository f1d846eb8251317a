"""The memory API's behaviour, whatever carries the request.

The FastAPI routes (app.py) and the CLI's direct client on the embedded file
(chatcli/memory/direct.py) both call `MemoryService`, so an input rule, the wire format
or the compaction trigger lives here once. Each method takes the request's raw inputs
(strings as they arrived, the body's bytes), checks all of them with
chatcli.server.validation before the store is touched, makes one store call and
returns what Motörhead would send. It raises BadInput for the client's mistakes and
StoreUnavailable when the store cannot answer; each transport words those its own way.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from chatcli.server import validation
from chatcli.server.errors import BadInput
from chatcli.server.store import AlreadyClaimed, Claim, Store, wire_memory

if TYPE_CHECKING:
    from chatcli.config import ServerSettings
    from chatcli.server.compactor import Compactor

log = logging.getLogger("chatcli.server")


def now_ms() -> int:
    """The health check's answer: the server's clock in milliseconds."""
    return int(time.time() * 1000)


class MemoryService:
    def __init__(
        self, store: Store, settings: ServerSettings, compactor: Compactor | None = None
    ) -> None:
        self.store = store
        self.window = settings.window
        self.max_messages = settings.max_messages_per_post
        self.idempotency_ttl = settings.idempotency_ttl
        self.compactor = compactor

    async def sessions(
        self, page: str | None, size: str | None, namespace: str | None
    ) -> list[str]:
        """Session ids by last write, oldest first, a page at a time."""
        page_n, size_n = validation.page_and_size(page, size)
        ns = validation.namespace(namespace)
        return await self.store.list_sessions(ns, (page_n - 1) * size_n, size_n)

    async def memory(self, session_id: str) -> dict[str, Any]:
        """At most `window` newest messages (newest first), the summary and the tokens."""
        sid = validation.session_id(session_id)
        return wire_memory(await self.store.get(sid, self.window))

    async def append(
        self,
        session_id: str,
        namespace: str | None,
        body: bytes,
        idempotency_key: str | None = None,
    ) -> bool:
        """Append the body's messages in order; a summary is scheduled once over the window.
        True when the request repeats an earlier one's Idempotency-Key: that one's answer
        stands and nothing is appended.

        A 503 does not prove a write failed (Redis may close after executing it), so a
        client retries with the key it sent. The key is recorded in the append's own atomic
        write, for `idempotency_ttl` seconds; the same key with another session or body is
        the client's mistake (409), never a silent replay of something else.

        A failure to schedule is logged, not answered: the messages are stored, and the
        next start-up resumes compaction of every session over its window."""
        sid = validation.session_id(session_id)
        ns = validation.namespace(namespace)
        key = validation.idempotency_key(idempotency_key)
        post = validation.post_body(body, self.max_messages)
        now = time.time()
        if key is None:
            count = await self.store.append(sid, post.messages, post.context, ns, now)
        else:
            claim = Claim(key, sid, validation.post_digest(ns, post), self.idempotency_ttl)
            try:
                count = await self.store.append(
                    sid, post.messages, post.context, ns, now, claim=claim
                )
            except AlreadyClaimed as held:
                _check_replay(claim, held)
                return True
        if self.compactor is not None:
            try:
                self.compactor.after_append(sid, count)
            except Exception:
                log.exception("could not schedule compaction of session %s", sid)
        return False

    async def delete(self, session_id: str, namespace: str | None) -> None:
        """The messages, summary, tokens and index entry, all of them."""
        sid = validation.session_id(session_id)
        ns = validation.namespace(namespace)
        await self.store.delete(sid, ns)

    def check_address(self, session_id: str, namespace: str | None = None) -> None:
        """The id and namespace rules alone, so a route refuses a bad address before it
        reads a body (and /retrieval, which touches no store, refuses it at all)."""
        validation.session_id(session_id)
        validation.namespace(namespace)


def _check_replay(claim: Claim, held: AlreadyClaimed) -> None:
    """A repeated key must repeat its request exactly; else say what differs."""
    if held.session_id != claim.session_id:
        raise BadInput(
            f"Idempotency-Key {claim.key!r} was already used for another session "
            f"({held.session_id}): send a new key for a new request",
            409,
        )
    if held.digest != claim.digest:
        raise BadInput(
            f"Idempotency-Key {claim.key!r} was already used with a different body or namespace: "
            "send a new key for a new request",
            409,
        )
