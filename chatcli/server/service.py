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
import uuid
from typing import TYPE_CHECKING, Any

from chatcli.recall.errors import EmbedderError
from chatcli.server import validation
from chatcli.server.errors import BadInput, RecallDisabled
from chatcli.server.store import (
    AlreadyClaimed,
    Claim,
    ForkStatus,
    Found,
    Store,
    wire_entry,
    wire_memory,
)

if TYPE_CHECKING:
    from chatcli.config import ServerSettings
    from chatcli.server.compactor import Compactor
    from chatcli.server.embedding import EmbedderHandle
    from chatcli.server.indexer import Indexer

log = logging.getLogger("chatcli.server")


def now_ms() -> int:
    """The health check's answer: the server's clock in milliseconds."""
    return int(time.time() * 1000)


RETRIEVAL_LIMIT = 10
"""Motörhead's /retrieval answers at most this many."""


class MemoryService:
    """`embedder` is long-term memory: without one, /retrieval is Motörhead's disabled
    answer; `indexer` is told of every write (none in the CLI's direct client)."""

    def __init__(
        self,
        store: Store,
        settings: ServerSettings,
        compactor: Compactor | None = None,
        embedder: EmbedderHandle | None = None,
        indexer: Indexer | None = None,
    ) -> None:
        self.store = store
        self.window = settings.window
        self.max_messages = settings.max_messages_per_post
        self.idempotency_ttl = settings.idempotency_ttl
        self.compactor = compactor
        self.embedder = embedder
        self.indexer = indexer

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
        self._after_write(sid, count)
        return False

    async def delete(self, session_id: str, namespace: str | None) -> None:
        """The messages, summary, tokens and index entry, all of them."""
        sid = validation.session_id(session_id)
        ns = validation.namespace(namespace)
        await self.store.delete(sid, ns)

    async def transcript(
        self, session_id: str, after: str | None, limit: str | None
    ) -> dict[str, Any]:
        """A page of the whole record, oldest first; `next` continues it (null at the end)."""
        sid = validation.session_id(session_id)
        cursor, size = validation.transcript_page(after, limit)
        page = await self.store.transcript(sid, cursor, size)
        return {
            "messages": [wire_entry(e) for e in page.entries],
            "next": None if page.next is None else str(page.next),
            "namespace": page.namespace,
        }

    async def message(self, session_id: str, message_id: str) -> dict[str, Any]:
        sid, mid = self._message_address(session_id, message_id)
        entry = await self.store.message(sid, mid)
        if entry is None:
            raise _no_message(sid, mid)
        return wire_entry(entry)

    async def forget(self, session_id: str, message_id: str) -> None:
        """Remove one message from the transcript and the window; a summary that covered
        it is rebuilt in the background."""
        sid, mid = self._message_address(session_id, message_id)
        entry = await self.store.delete_message(sid, mid, _token())
        if entry is None:
            raise _no_message(sid, mid)
        if entry.summarized:
            self._rebuild(sid)

    async def edit(self, session_id: str, message_id: str, body: bytes) -> dict[str, Any]:
        """Replace one message's content everywhere it is held; a summary that covered it
        is rebuilt in the background."""
        sid, mid = self._message_address(session_id, message_id)
        content = validation.edit_body(body)
        entry = await self.store.edit_message(sid, mid, content, _token())
        if entry is None:
            raise _no_message(sid, mid)
        self._index()
        if entry.summarized:
            self._rebuild(sid)
        return wire_entry(entry)

    async def fork(self, session_id: str, namespace: str | None, body: bytes) -> dict[str, Any]:
        """A new session with this one's transcript up to `at`, same ids and times."""
        sid = validation.session_id(session_id)
        ns = validation.namespace(namespace)
        fork = validation.fork_body(body, sid)
        done = await self.store.fork(sid, fork.to, fork.at, ns, _token(), time.time())
        if done.status is ForkStatus.NO_SOURCE:
            raise BadInput(f"no session {sid} to fork", 404)
        if done.status is ForkStatus.NO_MESSAGE:
            raise _no_message(sid, fork.at or "")
        if done.status is ForkStatus.TARGET_EXISTS:
            raise BadInput(f"session {fork.to} already has data: fork into a new id", 409)
        self._after_write(fork.to, done.window)
        return {"status": "Ok", "session": fork.to, "messages": done.messages}

    async def import_messages(
        self, session_id: str, namespace: str | None, body: bytes
    ) -> dict[str, Any]:
        """Add exported messages with their ids and times; ids already held are skipped."""
        sid = validation.session_id(session_id)
        ns = validation.namespace(namespace)
        data = validation.import_body(body, self.max_messages)
        done = await self.store.import_messages(
            sid, data.entries, data.context, data.tokens, ns, time.time()
        )
        self._after_write(sid, done.window)
        return {"status": "Ok", "added": done.added, "skipped": data.given - done.added}

    async def retrieval(self, session_id: str, body: bytes) -> list[dict[str, Any]]:
        """Motörhead's long-term memory: the session's messages nearest `text`, at most 10,
        nearest first, from its whole transcript (the window too). `dist` is 0 for a message
        first in both the keyword and the dense ranking and grows down the fused order
        (ranking.Ranked); smaller is nearer, as in Motörhead. The body is checked before
        whether long-term memory is on, as Motörhead parses it before it looks."""
        sid = validation.session_id(session_id)
        text = validation.retrieval_body(body)
        if self.embedder is None:
            raise RecallDisabled
        found = await self._recall(sid, text, RETRIEVAL_LIMIT)
        return [{"role": f.entry.role, "content": f.entry.content, "dist": d} for f, d in found]

    async def search(self, body: bytes) -> dict[str, Any]:
        """chatcli's search for people: /retrieval's ranking over one session or all of
        them, with the ids and times a user needs to act on a hit."""
        query = validation.search_body(body)
        if self.embedder is None:
            raise BadInput(
                "long-term memory is disabled on this server: start it with --long-term-memory "
                "(server.long_term_memory)"
            )
        found = await self._recall(query.session_id, query.text, query.limit)
        return {
            "results": [
                {
                    "session_id": f.session_id,
                    "id": f.entry.id,
                    "role": f.entry.role,
                    "content": f.entry.content,
                    "time": f.entry.created_at,
                    "dist": d,
                }
                for f, d in found
            ]
        }

    async def _recall(
        self, session_id: str | None, text: str, limit: int
    ) -> list[tuple[Found, float]]:
        """Keyword (BM25) and exact dense candidates, fused by reciprocal rank. A message
        with no vector yet (just posted, or the model changed) is still found by keyword;
        an embedding model that fails leaves the keyword ranking alone, logged."""
        from chatcli.recall.ranking import Fusion, hybrid

        assert self.embedder is not None
        if not text.strip():
            return []
        fusion = Fusion(limit=limit, depth=max(Fusion.depth, limit))
        keyword = await self.store.keyword_search(session_id, text, fusion.depth)
        dense: list[Found] = []
        try:
            model, vectors = await self.embedder.embed([text])
        except EmbedderError as exc:
            log.warning("recall without dense search: %s", exc.message)
        else:
            dense = await self.store.nearest(session_id, model, vectors[0], fusion.depth)
        hits = {(f.session_id, f.entry.id): f for f in (*keyword, *dense)}
        ranked = hybrid(
            [(f.session_id, f.entry.id) for f in keyword],
            [(f.session_id, f.entry.id) for f in dense],
            fusion,
        )
        return [(hits[r.id], r.dist) for r in ranked]

    def _message_address(self, session_id: str, message_id: str) -> tuple[str, str]:
        return validation.session_id(session_id), validation.message_id(message_id)

    def _after_write(self, session_id: str, count: int) -> None:
        self._index()
        if self.compactor is not None:
            try:
                self.compactor.after_append(session_id, count)
            except Exception:
                log.exception("could not schedule compaction of session %s", session_id)

    def _index(self) -> None:
        """Logged, not answered: what is unindexed is stored, and the indexer polls."""
        if self.indexer is not None:
            try:
                self.indexer.notify()
            except Exception:
                log.exception("could not wake the recall indexer")

    def _rebuild(self, session_id: str) -> None:
        """Logged, not answered, when it cannot be scheduled: the stale mark is stored,
        and the next start-up resumes every rebuild."""
        if self.compactor is not None:
            try:
                self.compactor.after_change(session_id)
            except Exception:
                log.exception("could not schedule the summary rebuild of session %s", session_id)

    def check_message(self, session_id: str, message_id: str) -> None:
        """The session and message id rules alone, before a body is read."""
        self._message_address(session_id, message_id)

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


def _token() -> str:
    """A stale-summary mark: random, so a rebuild of a deleted and re-made session, or of
    an older edit, can never clear a newer mark."""
    return uuid.uuid4().hex


def _no_message(session_id: str, message_id: str) -> BadInput:
    return BadInput(f"no message {message_id} in session {session_id}", 404)
