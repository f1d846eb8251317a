"""The Store on Redis, in Motörhead's own key layout, so either server can read the other's data.

Keys Motörhead defines (never any other shape):
    session:{id}            list of "Role: content", newest at index 0 (LPUSH)
    context:{id}            string, the summary
    tokens:{id}             integer string, summarization tokens spent
    sessions / sessions:NS  sorted set of ids scored by unix seconds of the last POST

Keys only chatcli uses, all under `chatcli:` so they can never collide with Motörhead's:
    chatcli:lock:{id}       compaction lock, value = owner token, with a PX expiry
    chatcli:epoch:{id}      bumped by every delete (expires after a week), so a summary of a
                            session that was deleted and refilled with identical text is refused
    chatcli:idem:{key}      an Idempotency-Key's record, "session digest", with a PX expiry;
                            set by the append script itself, so it holds across replicas

Each API call is one round trip and atomic: one Lua script (the hot paths, POST and GET:
one command parses faster in redis-py than a MULTI/EXEC pipeline) or a MULTI/EXEC pipeline.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from chatcli.errors import first_line
from chatcli.server.errors import StoreUnavailable
from chatcli.server.store import AlreadyClaimed, Claim, Memory, Message, Pending, message_line

EPOCH_TTL_SECONDS = 7 * 24 * 3600
"""Far longer than any compaction can take, short enough that deleted sessions leave nothing."""

SCAN_BATCH = 1000

# KEYS: session, index, context. ARGV: now, session id, "1" to set the context, context,
# then the "Role: content" strings in array order. LPUSH in slices keeps that order (each
# slice lands on top of the previous one) and stays under Lua's unpack() stack limit.
# With an Idempotency-Key, KEYS gains its record's key last and ARGV its value and ttl (ms)
# last; a record already there is returned (a string) instead of the length, unwritten.
_APPEND = """
-- idempotency
local last = #ARGV
if #KEYS == 4 then
  local held = redis.call('GET', KEYS[4])
  if held then return held end
  redis.call('SET', KEYS[4], ARGV[last - 1], 'PX', ARGV[last])
  last = last - 2
end
if ARGV[3] == '1' then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
local length = redis.call('LLEN', KEYS[1])
for i = 5, last, 1000 do
  length = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, last)))
end
return length
"""

# KEYS: session, context, tokens. ARGV: limit.
_GET = """
local messages = {}
local limit = tonumber(ARGV[1])
if limit > 0 then messages = redis.call('LRANGE', KEYS[1], 0, limit - 1) end
return {messages, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""

# Removes exactly the `n` oldest messages handed out by `pending`, or nothing at all.
# KEYS: session, context, tokens, epoch. ARGV: n, summary, tokens, epoch ("" = none),
# then the n strings as they stood at the tail, in list order (index -n first).
_COMMIT_SUMMARY = """
local n = tonumber(ARGV[1])
local epoch = redis.call('GET', KEYS[4]) or ''
if epoch ~= ARGV[4] then return 0 end
local len = redis.call('LLEN', KEYS[1])
if len < n then return 0 end
local tail = redis.call('LRANGE', KEYS[1], -n, -1)
for i = 1, n do
  if tail[i] ~= ARGV[4 + i] then return 0 end
end
if len == n then
  redis.call('DEL', KEYS[1])
else
  redis.call('LTRIM', KEYS[1], 0, len - n - 1)
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('INCRBY', KEYS[3], ARGV[3])
return 1
"""

# KEYS: lock. ARGV: owner, ttl ms.
_REFRESH_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lock. ARGV: owner.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisUnavailable(StoreUnavailable):
    """Redis did not answer; the message names the URL (password masked) and the fix."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"redis at {url} is not answering: start it or fix --redis-url ({detail})")
        self.url = url


P = ParamSpec("P")
R = TypeVar("R")


def _reports_unavailable(
    method: Callable[Concatenate[RedisStore, P], Awaitable[R]],
) -> Callable[Concatenate[RedisStore, P], Awaitable[R]]:
    """redis-py's and the socket's errors as the server's StoreUnavailable, so the API
    layer answers 503 without knowing which store it has."""

    @functools.wraps(method)
    async def call(self: RedisStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(self.display_url, first_line(exc)) from exc

    return call


@dataclass(frozen=True)
class TailMarker:
    """Which messages `pending` handed out: the `count` at the list's tail, exactly as stored.

    The tail is stable because new messages only ever enter at the head, so
    `commit_summary` can find them again however many were posted meanwhile.
    """

    count: int
    items: tuple[bytes, ...]
    """The raw stored strings in list order (newest first); they end the list at index -1."""
    epoch: bytes
    """The session's delete counter when read (b"" when never deleted)."""


def mask_url(url: str) -> str:
    """The URL with any password replaced, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def decode_message(raw: bytes) -> Message:
    """Split on the first ": " as Motörhead does; a string without one is all content.

    Motörhead itself would make such a string the role with empty content; keeping it as
    content shows the text to a reader instead of hiding it.
    """
    text = raw.decode("utf-8", "replace")
    role, sep, content = text.partition(": ")
    if not sep:
        return Message(role="", content=text)
    return Message(role=role, content=content)


def _int(raw: bytes | None) -> int:
    """Token counts are integers, but a hand-edited or foreign value must not break a GET."""
    if raw is None:
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0


def _index_key(namespace: str | None) -> str:
    return f"sessions:{namespace}" if namespace else "sessions"


class _Connection:
    """A client and its scripts, bound to the event loop that first used them."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        self.append: AsyncScript = self.client.register_script(_APPEND)
        self.get: AsyncScript = self.client.register_script(_GET)
        self.commit_summary: AsyncScript = self.client.register_script(_COMMIT_SUMMARY)
        self.refresh_lock: AsyncScript = self.client.register_script(_REFRESH_LOCK)
        self.unlock: AsyncScript = self.client.register_script(_UNLOCK)


class RedisStore:
    """Motörhead-compatible storage; several replicas on one Redis act as one server."""

    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.display_url = mask_url(url)
        self._conn: _Connection | None = None

    def _connection(self) -> _Connection:
        """One pool per store; a new one only if the store moves to another event loop
        (asyncio connections cannot be shared across loops, e.g. tests using asyncio.run)."""
        loop = asyncio.get_running_loop()
        if self._conn is None or self._conn.loop is not loop:
            self._conn = _Connection(self.url, loop)
        return self._conn

    def _pipeline(self) -> Pipeline:
        return self._connection().client.pipeline(transaction=True)

    @_reports_unavailable
    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        context: str | None,
        namespace: str | None,
        now: float,
        claim: Claim | None = None,
    ) -> int:
        keys = [f"session:{session_id}", _index_key(namespace), f"context:{session_id}"]
        args: list[str | float] = [
            now,
            session_id,
            "0" if context is None else "1",
            context or "",
            *(message_line(m) for m in messages),
        ]
        if claim is not None:
            keys.append(f"chatcli:idem:{claim.key}")
            args += [f"{claim.session_id} {claim.digest}", _ms(claim.ttl)]
        length = await self._connection().append(keys=keys, args=args)
        if isinstance(length, bytes):
            held_session, _, held_digest = length.decode("utf-8", "replace").partition(" ")
            raise AlreadyClaimed(held_session, held_digest)
        return int(length)

    @_reports_unavailable
    async def get(self, session_id: str, limit: int) -> Memory:
        raw_messages, context, tokens = await self._connection().get(
            keys=[f"session:{session_id}", f"context:{session_id}", f"tokens:{session_id}"],
            args=[limit],
        )
        return Memory(
            messages=[decode_message(raw) for raw in raw_messages],
            context=None if context is None else context.decode("utf-8", "replace"),
            tokens=_int(tokens),
        )

    @_reports_unavailable
    async def delete(self, session_id: str, namespace: str | None) -> None:
        epoch = f"chatcli:epoch:{session_id}"
        async with self._pipeline() as pipe:
            pipe.delete(f"session:{session_id}", f"context:{session_id}", f"tokens:{session_id}")
            pipe.zrem(_index_key(namespace), session_id)
            pipe.incr(epoch)
            pipe.expire(epoch, EPOCH_TTL_SECONDS)
            await pipe.execute()

    @_reports_unavailable
    async def list_sessions(self, namespace: str | None, offset: int, limit: int) -> list[str]:
        if limit <= 0:
            return []
        ids = await self._connection().client.zrange(
            _index_key(namespace), offset, offset + limit - 1
        )
        return [raw.decode("utf-8", "replace") for raw in ids]

    @_reports_unavailable
    async def count(self, session_id: str) -> int:
        return int(await self._connection().client.llen(f"session:{session_id}"))

    @_reports_unavailable
    async def pending(self, session_id: str, keep: int) -> Pending[TailMarker] | None:
        async with self._pipeline() as pipe:
            pipe.lrange(f"session:{session_id}", max(keep, 0), -1)
            pipe.mget(f"context:{session_id}", f"chatcli:epoch:{session_id}")
            raw_messages, (context, epoch) = await pipe.execute()
        if not raw_messages:
            return None
        return Pending(
            session_id=session_id,
            messages=[decode_message(raw) for raw in reversed(raw_messages)],
            context=None if context is None else context.decode("utf-8", "replace"),
            marker=TailMarker(len(raw_messages), tuple(raw_messages), epoch or b""),
        )

    @_reports_unavailable
    async def commit_summary(self, pending: Pending[TailMarker], summary: str, tokens: int) -> bool:
        marker = pending.marker
        sid = pending.session_id
        done = await self._connection().commit_summary(
            keys=[f"session:{sid}", f"context:{sid}", f"tokens:{sid}", f"chatcli:epoch:{sid}"],
            args=[marker.count, summary, int(tokens), marker.epoch, *marker.items],
        )
        return bool(done)

    @_reports_unavailable
    async def try_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        taken = await self._connection().client.set(
            f"chatcli:lock:{session_id}", owner, nx=True, px=_ms(ttl)
        )
        return bool(taken)

    @_reports_unavailable
    async def refresh_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        done = await self._connection().refresh_lock(
            keys=[f"chatcli:lock:{session_id}"], args=[owner, _ms(ttl)]
        )
        return bool(done)

    @_reports_unavailable
    async def unlock(self, session_id: str, owner: str) -> None:
        await self._connection().unlock(keys=[f"chatcli:lock:{session_id}"], args=[owner])

    @_reports_unavailable
    async def sessions_over(self, window: int) -> list[str]:
        """SCAN every `session:*` list and LLEN them a batch per round trip.

        The store is never told the window, so it cannot keep a set of over-window sessions
        as it appends; and only the keys themselves also cover sessions Motörhead wrote (or
        that fell out of the index). This runs once at start-up, and SCAN never blocks Redis.
        No SCAN TYPE filter, which Redis 5 (still under some Motörhead deployments) lacks: a
        stray non-list `session:` key just answers LLEN with an error and is skipped.
        """
        client = self._connection().client
        over: list[str] = []
        batch: list[bytes] = []

        async def check(keys: list[bytes]) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.llen(key)
                lengths = await pipe.execute(raise_on_error=False)
            for key, length in zip(keys, lengths, strict=True):
                if isinstance(length, int) and length > window:
                    over.append(key[len(b"session:") :].decode("utf-8", "replace"))

        async for key in client.scan_iter(match="session:*", count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                await check(batch)
                batch = []
        if batch:
            await check(batch)
        return over

    @_reports_unavailable
    async def ping(self) -> None:
        await self._connection().client.ping()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is asyncio.get_running_loop():
            await conn.client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
