"""Long-term recall on Redis, in Motörhead's long-term layout (RedisStore delegates here).

Motörhead's layout (getmetal/motorhead, src/long_term_memory.rs and src/redis_utils.rs), which
chatcli reads and writes unchanged:
    motorhead:{id}   hash, one per message; Motörhead's id is a nanoid (21 characters):
                     session  the session id
                     content  the message's content (without the role)
                     role     its role
                     vector   the embedding, float32 little-endian (Motörhead: 1536-dim
                              text-embedding-ada-002)
    RediSearch index `motorhead`: ON HASH PREFIX 1 motorhead: SCHEMA session TAG content TEXT
        role TEXT vector VECTOR HNSW 6 TYPE FLOAT32 DIM 1536 DISTANCE_METRIC COSINE;
        searched with `@session:{id}=>[KNN 10 @vector $V AS dist]` (DIALECT 2), RETURN role
        content dist, SORTBY dist. Motörhead returns only role, content and dist, so it ignores
        the extra fields chatcli adds below; it never deletes these hashes.

What chatcli adds to a hash it writes (one per transcript message, key `recall_vector` of the
store's key layout, redis_layout.py):
    chatcli_model the embedding model of `vector`: a vector is searched only by its own model,
                  so Motörhead's ada vectors (no tag) are re-embedded, never mixed;
    chatcli_id    the transcript message's id.
A Motörhead hash chatcli re-embedded keeps its key, session, role and content and gains
`chatcli_model`; one whose message is also in the session's transcript (Motörhead indexes its
window too) is marked `chatcli_dup` and left to Motörhead, so no message is served twice.

chatcli's own keys (named by the key layout, redis_layout.py, nowhere else; on one Redis):
    chatcli:recall:docs:{id}     hash: "m:<message id>" -> model of its stored vector, and
                                 "_n:<model>" -> how many of the session's messages have one
    chatcli:recall:upto:{id}     hash: model -> the place (transcript seq) up to which every
                                 message has a vector of that model
    chatcli:recall:foreign:{id}  hash: Motörhead hash id -> "" (to embed), a model (embedded
                                 with it) or "=" (a duplicate, never served)
    chatcli:recall:dirty         set of sessions that may hold messages without a vector: the
                                 append script adds to it atomically with the messages, fork,
                                 import, edits and deletes after their write; the indexer's walk
                                 takes a session out once it finds it complete, atomically
    chatcli:recall:log           stream of what changed in the vectors, so every process's
                                 in-memory index (recall_memory.py) follows exactly
    chatcli:recall:epoch         a random token: a Redis flushed under a process is noticed
On a Redis Cluster the same keys carry the session's bucket as hash tag, the dirty set and
the log are one per bucket, and there are no Motörhead hashes (the cluster layout's doc).

Why these choices:
- What is left to index is durable: the transcript (order set, transcript hash) against the
  per-session hash of stored vectors, walked from a per-model cursor. Each process also
  re-marks every session dirty (and adopts Motörhead's sessions and long-term hashes) the
  first time it indexes a model, so a process killed between a fork and its dirty mark, or
  an older Redis, still has everything indexed; a vector is stored only if the message's
  stored value still hashes to the `mark` handed out, so a vector of an edited message is
  never stored.
- Search runs in the server process (plain Redis and Valkey have no search): every process
  holds the texts and the current model's vectors in memory, loads a session's when first
  searched (or all, for a search across sessions), follows new messages by the transcript's
  `_next` counter and new or removed vectors by the log. So a POST writes nothing more than one
  SADD, and a new message is keyword-searchable at once.
- Edits and deletes remove the vectors before and after the transcript write; a search also
  checks each hit against the transcript and drops (and re-queues) one that no longer matches,
  so a process killed between the two writes serves nothing stale.
- Where RediSearch answers (FT._LIST) and Motörhead's `motorhead` index has the query's
  dimension, `nearest` asks it (HNSW: approximate, and untested here, where no Redis has the
  module); else it searches exactly in memory.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ResponseError

from chatcli.recall.ranking import indexed_text, query_terms
from chatcli.server.recall_memory import Doc, Key, MemoryIndex
from chatcli.server.redis_layout import MOTORHEAD_PREFIX, KeyLayout, motorhead_hash
from chatcli.server.store import Entry, Found, ToEmbed

if TYPE_CHECKING:
    import numpy as np
    import redis.asyncio as redis

LOG_LENGTH = 100_000
"""Entries the change log keeps (approximately); a process further behind reloads."""
WALK_BUDGET = 2000
"""Transcript entries one walk of a session looks at, bounding the script's time."""
SCAN_BATCH = 1000
LOAD_BATCH = 50
"""Sessions whose texts one round trip reads when the in-memory index loads."""
SEARCH_MARGIN = 10
"""Extra candidates fetched so hits dropped as stale still leave `limit` results."""
INDEX = "motorhead"


_LINE_OF = """
local function line_of(value) return string.sub(value, string.find(value, ' ', 1, true) + 1) end
"""

# KEYS: order, transcript, docs, cursor, dirty. ARGV: model, limit, budget, session id,
# "1" if Motörhead hashes of the session still wait. Returns {none, other, more}: lists of
# {id, line, sha1 of the stored value}, and 1 when it looked at `budget` entries that all had
# a vector (the cursor moved past them: walk again). Takes the session out of `dirty` when
# it reached the end and found nothing to do.
_WALK = (
    _LINE_OF
    + """
local model, limit, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local upto = redis.call('HGET', KEYS[4], model) or '0'
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. upto, '+inf', 'WITHSCORES',
  'LIMIT', 0, budget)
local none, other = {}, {}
local complete, moved = true, nil
for i = 1, #found, 2 do
  local id = found[i]
  local held = redis.call('HGET', KEYS[3], 'm:' .. id)
  if held == model then
    if complete then moved = found[i + 1] end
  else
    complete = false
    local value = redis.call('HGET', KEYS[2], id)
    if value then
      local item = {id, line_of(value), redis.sha1hex(value)}
      if held then other[#other + 1] = item else none[#none + 1] = item end
    end
    if #none + #other >= limit then break end
  end
end
if moved then redis.call('HSET', KEYS[4], model, moved) end
local ended = #found < 2 * budget
if complete and ended and ARGV[5] ~= '1' then
  redis.call('SREM', KEYS[5], ARGV[4])
end
return {none, other, (complete and not ended) and 1 or 0}
"""
)

# KEYS: transcript, docs, log, then each item's vector key. ARGV: model, session id, log
# length, then per item: id, mark, role, content, vector.
_ADD = """
local model, session = ARGV[1], ARGV[2]
local stored = {}
for k = 4, #KEYS do
  local a = 4 + (k - 4) * 5
  local id = ARGV[a]
  local value = redis.call('HGET', KEYS[1], id)
  local held = redis.call('HGET', KEYS[2], 'm:' .. id)
  if value and redis.sha1hex(value) == ARGV[a + 1] and held ~= model then
    redis.call('HSET', KEYS[k], 'session', session, 'content', ARGV[a + 3], 'role', ARGV[a + 2],
      'vector', ARGV[a + 4], 'chatcli_model', model, 'chatcli_id', id)
    if held then redis.call('HINCRBY', KEYS[2], '_n:' .. held, -1) end
    redis.call('HSET', KEYS[2], 'm:' .. id, model)
    redis.call('HINCRBY', KEYS[2], '_n:' .. model, 1)
    stored[#stored + 1] = id
  end
end
if #stored > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'op', 'v', 's', session,
    'ids', table.concat(stored, ' '))
end
return #stored
"""

# KEYS: foreign, log, then each item's Motörhead hash. ARGV: model, session id, log length,
# then per item: id, sha1 of the hash's content, vector.
_ADD_FOREIGN = """
local model, session = ARGV[1], ARGV[2]
local stored = {}
for k = 3, #KEYS do
  local a = 4 + (k - 3) * 3
  local id = ARGV[a]
  local held = redis.call('HGET', KEYS[1], id)
  local content = redis.call('HGET', KEYS[k], 'content')
  if held and held ~= '=' and held ~= model and content
      and redis.sha1hex(content) == ARGV[a + 1] then
    redis.call('HSET', KEYS[k], 'vector', ARGV[a + 2], 'chatcli_model', model)
    redis.call('HSET', KEYS[1], id, model)
    stored[#stored + 1] = id
  end
end
if #stored > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'op', 'x', 's', session,
    'ids', table.concat(stored, ' '))
end
return #stored
"""

# KEYS: docs, cursor, order, dirty, log, then each message's vector key. ARGV: session id,
# log length, "1" to log even messages the store holds nothing of, then the message ids.
# Their vectors go, every model's cursor moves back before them, and the session is dirty
# again: what is still in the transcript is indexed afresh. Writes nothing when no message
# named is in the transcript or has a vector, unless told to.
_FORGET = """
local session = ARGV[1]
local cursors = redis.call('HGETALL', KEYS[2])
local touched = ARGV[3] == '1'
for k = 6, #KEYS do
  local id = ARGV[k - 2]
  local held = redis.call('HGET', KEYS[1], 'm:' .. id)
  local seq = redis.call('ZSCORE', KEYS[3], id)
  if held then
    redis.call('HINCRBY', KEYS[1], '_n:' .. held, -1)
    redis.call('HDEL', KEYS[1], 'm:' .. id)
  end
  if held or seq then
    touched = true
    redis.call('DEL', KEYS[k])
  end
  if seq then
    for c = 1, #cursors, 2 do
      if tonumber(cursors[c + 1]) >= tonumber(seq) then
        cursors[c + 1] = tostring(tonumber(seq) - 1)
        redis.call('HSET', KEYS[2], cursors[c], cursors[c + 1])
      end
    end
  end
end
if not touched then return 0 end
redis.call('SADD', KEYS[4], session)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'op', 'f', 's', session,
  'ids', table.concat(ARGV, ' ', 4))
return 1
"""

# KEYS: docs, cursor, foreign, dirty, log, order, then every vector key of the session.
# ARGV: session id, log length. Writes nothing for a session the store holds nothing of.
_FORGET_SESSION = """
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3], KEYS[6]) == 0 then return 0 end
for k = 7, #KEYS do redis.call('DEL', KEYS[k]) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'op', 'f', 's', ARGV[1], 'ids', '*')
return 1
"""


# KEYS: vector hashes. Returns their chatcli_model and vector fields, flat (nil for none):
# one command instead of one per hash, which is what loading 100k vectors costs.
_VECTORS = """
local out = {}
for i = 1, #KEYS do
  local held = redis.call('HMGET', KEYS[i], 'chatcli_model', 'vector')
  out[2 * i - 1] = held[1] or ''
  out[2 * i] = held[2] or ''
end
return out
"""


# KEYS: a session's transcript, order, window. ARGV: message ids. Returns, per id, its stored
# value, its place and 1 if in the window ('' for what is missing): a search's hits checked in
# one command per session instead of three per hit.
_ENTRIES = """
local out = {}
for i = 1, #ARGV do
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i]) or ''
  out[#out + 1] = redis.call('ZSCORE', KEYS[2], ARGV[i]) or ''
  out[#out + 1] = redis.call('ZSCORE', KEYS[3], ARGV[i]) and 1 or 0
end
return out
"""


@dataclass
class _Loaded:
    next: int
    """The transcript's `_next` when its texts were last read."""


TranscriptKeys = Callable[[str], list[str]]
"""The store's [window list, transcript hash, order set, window set] of a session."""


class RedisRecall:
    """Recall's half of the Redis store; RedisStore hands it its client and key names."""

    def __init__(
        self,
        client: Callable[[], redis.Redis],
        transcript_keys: TranscriptKeys,
        adopt: Callable[[str], Awaitable[None]],
        layout: KeyLayout,
    ) -> None:
        self._client = client
        self._transcript_keys = transcript_keys
        self._adopt = adopt
        self.layout = layout
        self._reconciled: set[str] = set()
        self._scan_cursors: dict[str, int] = {}
        self._next_set = 0
        self._index = MemoryIndex()
        self._loaded: dict[str, _Loaded] = {}
        self._all_loaded = False
        self._log_ids: dict[str, str] = {}
        """Per change log, the last entry this process has applied."""
        self._epoch: bytes | None = None
        self._search_dims: int | None = None
        self._search_checked = False
        self._scripts: tuple[object, dict[str, Any]] | None = None

    def _script(self, name: str) -> Any:
        client = self._client()
        if self._scripts is None or self._scripts[0] is not client:
            self._scripts = (
                client,
                {
                    "walk": client.register_script(_WALK),
                    "add": client.register_script(_ADD),
                    "add_foreign": client.register_script(_ADD_FOREIGN),
                    "forget": client.register_script(_FORGET),
                    "forget_session": client.register_script(_FORGET_SESSION),
                    "vectors": client.register_script(_VECTORS),
                    "entries": client.register_script(_ENTRIES),
                },
            )
        return self._scripts[1][name]

    # What is left to index

    async def _reconcile(self, model: str) -> None:
        """Once per process and model: mark every session dirty, adopting Motörhead's
        window lists and long-term hashes first, so nothing a crash or an older server left
        stays unindexed."""
        if model in self._reconciled:
            return
        client = self._client()
        layout = self.layout
        seen: set[str] = set()
        async for raw in client.scan_iter(match=layout.transcript_pattern, count=SCAN_BATCH):
            seen.add(layout.session_of_transcript(raw))
        async for raw in client.scan_iter(match=layout.messages_pattern, count=SCAN_BATCH):
            session_id = layout.session_of(raw)
            if session_id not in seen:
                await self._adopt(session_id)
                seen.add(session_id)
        if layout.motorhead_long_term:
            await self._adopt_motorhead(seen)
        ordered = sorted(seen)
        for start in range(0, len(ordered), SCAN_BATCH):
            batch = ordered[start : start + SCAN_BATCH]
            async with client.pipeline(transaction=False) as pipe:
                for session_id in batch:
                    pipe.sadd(self.layout.recall_dirty(session_id), session_id)
                await pipe.execute()
        self._reconciled.add(model)

    async def _adopt_motorhead(self, sessions: set[str]) -> None:
        """Register Motörhead's long-term hashes with their sessions: to embed, or as
        duplicates of a transcript message."""
        client = self._client()
        found: dict[str, list[tuple[str, str]]] = {}
        batch: list[bytes] = []

        async def check(keys: list[bytes]) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, "session", "role", "content", "chatcli_id", "chatcli_dup")
                rows = await pipe.execute()
            for key, (session, role, content, own, dup) in zip(keys, rows, strict=True):
                if session is None or own is not None or dup is not None:
                    continue
                line = indexed_text(_text(role), _text(content))
                motorhead_id = key.decode("utf-8", "replace")[len(MOTORHEAD_PREFIX) :]
                found.setdefault(_text(session), []).append((motorhead_id, line))

        async for key in client.scan_iter(match=f"{MOTORHEAD_PREFIX}*", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                await check(batch)
                batch = []
        if batch:
            await check(batch)
        for session_id, hashes in found.items():
            registered = await client.hgetall(self.layout.recall_foreign(session_id))
            fresh = [(h, line) for h, line in hashes if h.encode() not in registered]
            if not fresh:
                continue
            transcript = self._transcript_keys(session_id)[1]
            values = await client.hvals(transcript)
            lines = {v.partition(b" ")[2].decode("utf-8", "replace") for v in values}
            async with client.pipeline(transaction=True) as pipe:
                for motorhead_id, line in fresh:
                    duplicate = line in lines
                    pipe.hset(
                        self.layout.recall_foreign(session_id),
                        motorhead_id,
                        "=" if duplicate else "",
                    )
                    if duplicate:
                        pipe.hset(motorhead_hash(motorhead_id), "chatcli_dup", "1")
                pipe.sadd(self.layout.recall_dirty(session_id), session_id)
                pipe.xadd(
                    self.layout.recall_log(session_id),
                    {"op": "x", "s": session_id, "ids": " ".join(h for h, _ in fresh)},
                    maxlen=LOG_LENGTH,
                    approximate=True,
                )
                await pipe.execute()
            sessions.add(session_id)

    async def _foreign_waiting(self, session_id: str, model: str) -> list[str]:
        held = await self._client().hgetall(self.layout.recall_foreign(session_id))
        return [
            k.decode() for k, v in held.items() if v.decode("utf-8", "replace") not in ("=", model)
        ]

    async def unindexed(self, model: str, limit: int) -> list[ToEmbed]:
        """Dirty sessions are walked in SSCAN order, resumed where the last call stopped,
        until `limit` messages are found; among those, messages without any vector come
        first (across sessions beyond one call, "none first" is not promised). With several
        dirty sets (a cluster's buckets), the empty ones are skipped in one round trip and
        each call starts at the set the last one stopped in, so no bucket waits on another."""
        await self._reconcile(model)
        client = self._client()
        none: list[ToEmbed] = []
        other: list[ToEmbed] = []
        walked: set[str] = set()
        every = self.layout.recall_dirty_sets()
        sets = every
        if len(every) > 1:
            async with client.pipeline(transaction=False) as pipe:
                for dirty in every:
                    pipe.scard(dirty)
                sizes = await pipe.execute()
            first = self._next_set % len(every)
            order = every[first:] + every[:first]
            counts = sizes[first:] + sizes[:first]
            sets = [dirty for dirty, n in zip(order, counts, strict=True) if n]
        for dirty in sets:
            cursor = self._scan_cursors.get(dirty, 0)
            wrapped = cursor == 0
            while len(none) + len(other) < limit:
                cursor, members = await client.sscan(dirty, cursor, count=100)
                for raw in members:
                    session_id = raw.decode("utf-8", "replace")
                    if session_id in walked:  # SSCAN may repeat a member
                        continue
                    walked.add(session_id)
                    await self._walk(session_id, model, limit, none, other)
                    if len(none) + len(other) >= limit:
                        break
                if cursor == 0:
                    if wrapped:
                        break
                    wrapped = True  # began mid-set: the pass goes on from its start
            self._scan_cursors[dirty] = cursor
            if len(none) + len(other) >= limit:
                self._next_set = every.index(dirty)
                break
        return (none + other)[:limit]

    async def _walk(
        self, session_id: str, model: str, limit: int, none: list[ToEmbed], other: list[ToEmbed]
    ) -> None:
        _, transcript, order, _ = self._transcript_keys(session_id)
        waiting = (
            await self._foreign_waiting(session_id, model)
            if self.layout.motorhead_long_term
            else []
        )
        more = 1
        found_none: list = []
        found_other: list = []
        while more and not found_none and not found_other:
            found_none, found_other, more = await self._script("walk")(
                keys=[
                    order,
                    transcript,
                    self.layout.recall_docs(session_id),
                    self.layout.recall_cursor(session_id),
                    self.layout.recall_dirty(session_id),
                ],
                args=[model, limit, WALK_BUDGET, session_id, "1" if waiting else "0"],
            )
        for target, rows in ((none, found_none), (other, found_other)):
            for message_id, line, digest in rows:
                target.append(
                    ToEmbed(session_id, message_id.decode(), _text(line), "m" + digest.decode())
                )
        if waiting and len(other) < limit:
            client = self._client()
            async with client.pipeline(transaction=False) as pipe:
                for motorhead_id in waiting[: limit - len(other)]:
                    pipe.hmget(motorhead_hash(motorhead_id), "role", "content")
                rows = await pipe.execute()
            for motorhead_id, (role, content) in zip(waiting, rows, strict=False):
                if content is None:
                    continue
                digest = hashlib.sha1(content).hexdigest()
                line = indexed_text(_text(role), _text(content))
                other.append(ToEmbed(session_id, motorhead_id, line, "f" + digest))

    async def add_vectors(self, model: str, vectors: Sequence[tuple[ToEmbed, bytes]]) -> int:
        by_session: dict[str, list[tuple[ToEmbed, bytes]]] = {}
        for item, blob in vectors:
            by_session.setdefault(item.session_id, []).append((item, blob))
        stored = 0
        for session_id, items in by_session.items():
            own = [(i, b) for i, b in items if i.mark.startswith("m")]
            foreign = [(i, b) for i, b in items if i.mark.startswith("f")]
            if own:
                _, transcript, _, _ = self._transcript_keys(session_id)
                args: list[Any] = [model, session_id, LOG_LENGTH]
                for item, blob in own:
                    role, _, content = item.text.partition(": ")
                    args += [item.message_id, item.mark[1:], role, content, blob]
                stored += await self._script("add")(
                    keys=[
                        transcript,
                        self.layout.recall_docs(session_id),
                        self.layout.recall_log(session_id),
                        *(self.layout.recall_vector(session_id, i.message_id) for i, _ in own),
                    ],
                    args=args,
                )
            if foreign:
                args = [model, session_id, LOG_LENGTH]
                for item, blob in foreign:
                    args += [item.message_id, item.mark[1:], blob]
                stored += await self._script("add_foreign")(
                    keys=[
                        self.layout.recall_foreign(session_id),
                        self.layout.recall_log(session_id),
                        *(motorhead_hash(i.message_id) for i, _ in foreign),
                    ],
                    args=args,
                )
        return stored

    async def backlog(self, model: str) -> int:
        await self._reconcile(model)
        client = self._client()
        total = 0
        async with client.pipeline(transaction=False) as pipe:
            for dirty in self.layout.recall_dirty_sets():
                pipe.smembers(dirty)
            members = await pipe.execute()
        sessions = sorted({raw.decode("utf-8", "replace") for held in members for raw in held})
        for start in range(0, len(sessions), SCAN_BATCH):
            batch = sessions[start : start + SCAN_BATCH]
            async with client.pipeline(transaction=False) as pipe:
                for session_id in batch:
                    pipe.zcard(self._transcript_keys(session_id)[2])
                    pipe.hget(self.layout.recall_docs(session_id), f"_n:{model}")
                    pipe.hvals(self.layout.recall_foreign(session_id))
                rows = await pipe.execute()
            for i in range(0, len(rows), 3):
                messages, indexed, foreign = rows[i : i + 3]
                total += max(0, int(messages) - int(indexed or 0))
                total += sum(1 for v in foreign if v.decode() not in ("=", model))
        return total

    # Removal, called by RedisStore around its own writes

    async def forget(self, session_id: str, message_ids: Sequence[str], changed: bool) -> None:
        """The messages' vectors go and they are indexed afresh from what the transcript
        then holds (an edit's new text; nothing, for a delete). `changed`: the store just
        changed them, so every process's index must hear of it even if none had a vector."""
        _, _, order, _ = self._transcript_keys(session_id)
        await self._script("forget")(
            keys=[
                self.layout.recall_docs(session_id),
                self.layout.recall_cursor(session_id),
                order,
                self.layout.recall_dirty(session_id),
                self.layout.recall_log(session_id),
                *(self.layout.recall_vector(session_id, m) for m in message_ids),
            ],
            args=[session_id, LOG_LENGTH, "1" if changed else "0", *message_ids],
        )

    async def forget_session(self, session_id: str) -> None:
        """Every vector and Motörhead hash of the session goes (`clear`)."""
        client = self._client()
        docs = await client.hkeys(self.layout.recall_docs(session_id))
        foreign = await client.hkeys(self.layout.recall_foreign(session_id))
        vector_keys = [
            self.layout.recall_vector(session_id, raw.decode()[2:])
            for raw in docs
            if raw.startswith(b"m:")
        ]
        vector_keys += [motorhead_hash(raw.decode()) for raw in foreign]
        await self._script("forget_session")(
            keys=[
                self.layout.recall_docs(session_id),
                self.layout.recall_cursor(session_id),
                self.layout.recall_foreign(session_id),
                self.layout.recall_dirty(session_id),
                self.layout.recall_log(session_id),
                self._transcript_keys(session_id)[2],
                *dict.fromkeys(vector_keys),
            ],
            args=[session_id, LOG_LENGTH],
        )

    async def touched(self, session_id: str) -> None:
        """A fork or import wrote the session's transcript: index it."""
        await self._client().sadd(self.layout.recall_dirty(session_id), session_id)

    # Search

    async def keyword_search(self, session_id: str | None, text: str, limit: int) -> list[Found]:
        terms = query_terms(text)
        if not terms or limit <= 0:
            return []
        await self._refresh(session_id)
        ranked = self._index.keyword(session_id, terms, limit + SEARCH_MARGIN)
        return (await self._found(ranked))[:limit]

    async def nearest(
        self, session_id: str | None, model: str, vector: np.ndarray, limit: int
    ) -> list[Found]:
        if limit <= 0:
            return []
        await self._refresh(session_id)
        if await self._redisearch_dims() == vector.shape[0]:
            # the index may hold vectors of another model of the same dimension (Motörhead's
            # ada beside OpenAI's text-embedding-3-small): only `model`'s are answers
            ranked = [
                (key, score)
                for key, score in await self._knn(session_id, vector, 4 * (limit + SEARCH_MARGIN))
                if self._index.has_vector(key, model)
            ][: limit + SEARCH_MARGIN]
        else:
            ranked = self._index.nearest(session_id, model, vector, limit + SEARCH_MARGIN)
        return (await self._found(ranked))[:limit]

    async def _refresh(self, session_id: str | None) -> None:
        """Bring the in-memory index up to what Redis holds for the session (None: all),
        in one round trip when nothing changed. A session's changes are in its shard's log
        (one log on one Redis, one per bucket on a cluster), so a search in one session
        reads one log, and a search across all reads them all."""
        client = self._client()
        layout = self.layout
        logs = layout.recall_logs() if session_id is None else [layout.recall_log(session_id)]
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(layout.recall_epoch)
            for log in logs:
                pipe.xrange(log, "-", "+", count=1)
                held = self._log_ids.get(log)
                if held is not None:
                    pipe.xrange(log, f"({held}", "+")
                else:
                    pipe.xrevrange(log, "+", "-", count=1)
            if session_id is not None:
                pipe.hget(self._transcript_keys(session_id)[1], "_next")
            else:
                for dirty in layout.recall_dirty_sets():
                    pipe.smembers(dirty)
            epoch, *replies = await pipe.execute()
        heads = replies[0 : 2 * len(logs) : 2]
        tails = replies[1 : 2 * len(logs) : 2]
        rest = replies[2 * len(logs) :]
        gap = False
        for log, first, tail in zip(logs, heads, tails, strict=True):
            held = self._log_ids.get(log)
            if held is None:  # first read of this log: its newest entry is where we are
                self._log_ids[log] = tail[0][0].decode() if tail else "0-0"
                tail.clear()
            elif first and _after(first[0][0], held):
                gap = True  # trimmed past what this process has read
        if epoch is None or epoch != self._epoch or gap:
            if epoch is None:
                await client.set(layout.recall_epoch, secrets.token_hex(8), nx=True)
                epoch = await client.get(layout.recall_epoch)
            self._reset(epoch)
            async with client.pipeline(transaction=False) as pipe:
                for log in logs:
                    pipe.xrevrange(log, "+", "-", count=1)
                latest = await pipe.execute()
            for log, newest in zip(logs, latest, strict=True):
                self._log_ids[log] = newest[0][0].decode() if newest else "0-0"
            tails = []
        changed: set[str] = set()
        known: dict[str, int] = {}
        entries: list[tuple[str, str, list[str]]] = []
        for log, tail in zip(logs, tails, strict=False):
            for entry_id, fields in tail:
                self._log_ids[log] = entry_id.decode()
                session = fields[b"s"].decode("utf-8", "replace")
                entries.append(
                    (fields[b"op"].decode(), session, fields[b"ids"].decode().split(" "))
                )
                changed.add(session)
        if session_id is not None:
            if session_id not in self._loaded:
                await self._load([session_id])
            changed.add(session_id)
            known[session_id] = int(rest[0] or 0)
        elif not self._all_loaded:
            await self._load_all()
        else:
            for members in rest:
                changed |= {raw.decode("utf-8", "replace") for raw in members}
        await self._tail(changed & self._loaded.keys(), known)
        for op, session, ids in entries:
            if session in self._loaded:
                await self._apply(op, session, ids)

    def _reset(self, epoch: bytes) -> None:
        self._epoch = epoch
        self._index = MemoryIndex()
        self._loaded = {}
        self._all_loaded = False
        self._log_ids = {}

    async def _load_all(self) -> None:
        """Every session with a transcript or with Motörhead hashes."""
        client = self._client()
        layout = self.layout
        sessions: set[str] = set()
        async for raw in client.scan_iter(match=layout.transcript_pattern, count=SCAN_BATCH):
            sessions.add(layout.session_of_transcript(raw))
        if layout.motorhead_long_term:
            pattern = layout.recall_foreign("*")
            async for raw in client.scan_iter(match=pattern, count=SCAN_BATCH):
                sessions.add(raw.decode("utf-8", "replace")[len(pattern) - 1 :])
        await self._load(sorted(sessions - self._loaded.keys()))
        self._all_loaded = True

    async def _load(self, sessions: list[str]) -> None:
        """Read the sessions' texts and vectors afresh, LOAD_BATCH sessions a round trip."""
        client = self._client()
        for start in range(0, len(sessions), LOAD_BATCH):
            batch = sessions[start : start + LOAD_BATCH]
            async with client.pipeline(transaction=False) as pipe:
                for session_id in batch:
                    pipe.hgetall(self._transcript_keys(session_id)[1])
                    pipe.hkeys(self.layout.recall_docs(session_id))
                    pipe.hgetall(self.layout.recall_foreign(session_id))
                rows = await pipe.execute()
            vectors: list[Key] = []
            for i, session_id in enumerate(batch):
                values, docs, foreign = rows[3 * i : 3 * i + 3]
                self._index.remove_session(session_id)
                self._index.add_many(
                    [
                        Doc((session_id, field.decode()), _line(value), False)
                        for field, value in values.items()
                        if not field.startswith(b"_")
                    ]
                )
                self._loaded[session_id] = _Loaded(int(values.get(b"_next", b"0")))
                vectors += [(session_id, f.decode()[2:]) for f in docs if f.startswith(b"m:")]
                ids = [k.decode() for k, v in foreign.items() if v != b"="]
                await self._load_foreign(session_id, ids)
            await self._load_vectors(vectors)

    async def _load_vectors(self, keys: list[Key]) -> None:
        by_shard: dict[int, list[Key]] = {}
        for key in keys:  # one script touches one slot
            by_shard.setdefault(self.layout.shard(key[0]), []).append(key)
        for shard_keys in by_shard.values():
            await self._load_vectors_of(shard_keys)

    async def _load_vectors_of(self, keys: list[Key]) -> None:
        for start in range(0, len(keys), SCAN_BATCH):
            batch = keys[start : start + SCAN_BATCH]
            flat = await self._script("vectors")(
                keys=[self.layout.recall_vector(*key) for key in batch]
            )
            by_model: dict[bytes, tuple[list[Key], list[bytes]]] = {}
            for i, key in enumerate(batch):
                model, vector = flat[2 * i], flat[2 * i + 1]
                if model and vector:
                    held = by_model.setdefault(model, ([], []))
                    held[0].append(key)
                    held[1].append(vector)
            for model, (found, vectors) in by_model.items():
                self._index.set_vectors(model.decode(), found, vectors)

    async def _load_foreign(self, session_id: str, ids: list[str]) -> None:
        if not ids:
            return
        client = self._client()
        async with client.pipeline(transaction=False) as pipe:
            for motorhead_id in ids:
                pipe.hmget(
                    motorhead_hash(motorhead_id),
                    "role",
                    "content",
                    "chatcli_model",
                    "vector",
                    "chatcli_dup",
                )
            rows = await pipe.execute()
        for motorhead_id, (role, content, model, vector, dup) in zip(ids, rows, strict=True):
            key = (session_id, motorhead_id)
            if content is None or dup is not None:
                self._index.remove(key)
                continue
            self._index.add(Doc(key, indexed_text(_text(role), _text(content)), True))
            if model is not None and vector is not None:
                self._index.set_vector(key, model.decode(), vector)

    async def _tail(self, sessions: set[str], known: dict[str, int]) -> None:
        """New transcript messages of loaded sessions, by their `_next` counter (`known`
        holds counters already read)."""
        client = self._client()
        unknown = sorted(sessions - known.keys())
        counters = dict(known)
        if unknown:
            async with client.pipeline(transaction=False) as pipe:
                for session_id in unknown:
                    pipe.hget(self._transcript_keys(session_id)[1], "_next")
                for session_id, raw in zip(unknown, await pipe.execute(), strict=True):
                    counters[session_id] = int(raw or 0)
        for session_id in sorted(sessions):
            now = counters[session_id]
            held = self._loaded[session_id]
            if now == held.next:
                continue
            if now < held.next:  # deleted and refilled
                await self._load([session_id])
                continue
            _, transcript, order, _ = self._transcript_keys(session_id)
            ids = await client.zrangebyscore(order, f"({held.next}", "+inf")
            if ids:
                values = await client.hmget(transcript, ids)
                self._index.add_many(
                    [
                        Doc((session_id, raw_id.decode()), _line(value), False)
                        for raw_id, value in zip(ids, values, strict=True)
                        if value is not None
                    ]
                )
            held.next = now

    async def _apply(self, op: str, session_id: str, ids: list[str]) -> None:
        if op == "v":
            missing = [i for i in ids if not self._index.has((session_id, i))]
            if missing:
                await self._load([session_id])
                return
            await self._load_vectors([(session_id, i) for i in ids])
        elif op == "x":
            await self._load_foreign(session_id, ids)
        elif ids == ["*"]:
            self._index.remove_session(session_id)
            self._loaded.pop(session_id, None)
        else:
            transcript = self._transcript_keys(session_id)[1]
            values = await self._client().hmget(transcript, ids)
            for message_id, value in zip(ids, values, strict=True):
                self._index.remove((session_id, message_id))
                if value is not None:
                    line = value.partition(b" ")[2].decode("utf-8", "replace")
                    self._index.add(Doc((session_id, message_id), line, False))

    async def _found(self, ranked: list[tuple[Key, float]]) -> list[Found]:
        """The hits as transcript entries, checked against the transcript: a hit whose
        message is gone or changed is dropped and its vectors re-queued."""
        if not ranked:
            return []
        client = self._client()
        own = [(key, score) for key, score in ranked if not self._is_foreign(key)]
        by_session: dict[str, list[str]] = {}
        for (session_id, message_id), _ in own:
            by_session.setdefault(session_id, []).append(message_id)
        sessions = list(by_session)
        script = self._script("entries")
        for attempt in range(2):
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for session_id in sessions:
                        _, transcript, order, window = self._transcript_keys(session_id)
                        pipe.execute_command(  # a cluster pipeline refuses pipe.evalsha
                            "EVALSHA", script.sha, 3, transcript, order, window,
                            *by_session[session_id],
                        )  # fmt: skip
                    replies = await pipe.execute()
                break
            except NoScriptError:
                if attempt:
                    raise
                await client.script_load(_ENTRIES)
        rows: dict[Key, tuple[bytes | None, bytes | None, int]] = {}
        for session_id, flat in zip(sessions, replies, strict=True):
            for i, message_id in enumerate(by_session[session_id]):
                value, seq, windowed = flat[3 * i : 3 * i + 3]
                rows[(session_id, message_id)] = (value or None, seq or None, int(windowed))
        checked: dict[Key, Entry | None] = {}
        for (session_id, message_id), _ in own:
            value, seq, windowed = rows[(session_id, message_id)]
            doc = self._doc(session_id, message_id)
            if value is None or seq is None:
                checked[(session_id, message_id)] = None
                continue
            ms, _, line = value.partition(b" ")
            text = line.decode("utf-8", "replace")
            if doc is None or doc.text != text:
                checked[(session_id, message_id)] = None
                continue
            role, sep, content = text.partition(": ")
            if not sep:
                role, content = "", text
            checked[(session_id, message_id)] = Entry(
                message_id, role, content, int(ms), not windowed, int(float(seq))
            )
        found: list[Found] = []
        stale: dict[str, list[str]] = {}
        for key, score in ranked:
            if self._is_foreign(key):
                doc = self._doc(*key)
                if doc is not None:
                    role, _, content = doc.text.partition(": ")
                    found.append(Found(key[0], Entry(key[1], role, content, 0, True, 0), score))
                continue
            entry = checked.get(key)
            if entry is None:
                stale.setdefault(key[0], []).append(key[1])
                self._index.remove(key)
            else:
                found.append(Found(key[0], entry, score))
        for session_id, ids in stale.items():
            await self.forget(session_id, ids, changed=True)
        return found

    def _doc(self, session_id: str, doc_id: str) -> Doc | None:
        slot = self._index.slot_of.get((session_id, doc_id))
        return None if slot is None else self._index.docs[slot]

    def _is_foreign(self, key: Key) -> bool:
        doc = self._doc(*key)
        return doc is not None and doc.foreign

    # RediSearch (untested here: no Redis on these machines has the module)

    async def _redisearch_dims(self) -> int | None:
        """The vector dimension of Motörhead's `motorhead` index where RediSearch answers,
        else None (plain Redis, Valkey, or no such index)."""
        if self._search_checked:
            return self._search_dims
        self._search_checked = True
        if not self.layout.motorhead_long_term:  # Motörhead's index is on one Redis only
            return None
        client = self._client()
        try:
            names = await client.execute_command("FT._LIST")
            if INDEX.encode() not in names:
                return None
            info = await client.execute_command("FT.INFO", INDEX)
        except ResponseError:
            return None
        self._search_dims = _index_dims(info)
        return self._search_dims

    async def _knn(
        self, session_id: str | None, vector: np.ndarray, limit: int
    ) -> list[tuple[Key, float]]:
        where = "*" if session_id is None else f"@session:{{{_tag(session_id)}}}"
        reply = await self._client().execute_command(
            "FT.SEARCH", INDEX, f"{where}=>[KNN {limit} @vector $V AS dist]",
            "PARAMS", "2", "V", vector.astype("<f4").tobytes(),
            "RETURN", "3", "session", "chatcli_id", "dist",
            "SORTBY", "dist", "LIMIT", "0", str(limit), "DIALECT", "2",
        )  # fmt: skip
        ranked: list[tuple[Key, float]] = []
        for i in range(1, len(reply), 2):
            key = reply[i].decode()
            fields = dict(zip(reply[i + 1][::2], reply[i + 1][1::2], strict=True))
            session = _text(fields.get(b"session"))
            own = fields.get(b"chatcli_id")
            doc_id = own.decode() if own else key[len(MOTORHEAD_PREFIX) :]
            ranked.append(((session, doc_id), 1.0 - float(fields.get(b"dist", b"1"))))
        return ranked


def _line(value: bytes) -> str:
    """The "Role: content" of a transcript value "<ms> Role: content"."""
    return value.partition(b" ")[2].decode("utf-8", "replace")


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", "replace")


def _after(entry_id: bytes, seen: str) -> bool:
    """A stream id later than `seen`."""
    ms, _, seq = entry_id.decode().partition("-")
    held_ms, _, held_seq = seen.partition("-")
    return (int(ms), int(seq or 0)) > (int(held_ms), int(held_seq or 0))


def _tag(value: str) -> str:
    """A RediSearch TAG value with its punctuation escaped."""
    return "".join("\\" + c if not c.isalnum() else c for c in value)


def _index_dims(info: list) -> int | None:
    """The DIM of the VECTOR attribute in an FT.INFO reply."""

    def walk(item: object) -> int | None:
        if isinstance(item, list):
            for i, part in enumerate(item):
                if part in (b"dim", b"DIM") and i + 1 < len(item):
                    return int(item[i + 1])
                found = walk(part)
                if found is not None:
                    return found
        return None

    return walk(info)
