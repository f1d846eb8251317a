"""The Store on Redis, in Motörhead's own key layout, so either server can read the other's data.

The key names come from a layout (redis_layout.py): Motörhead's, below, on one Redis;
on a Redis Cluster (a `redis+cluster://` URL) the same keys, hash-tagged so a session's
keys share a slot. The scripts are the same for both: they take every key in KEYS.

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
    chatcli:transcript:{id} hash: message id -> "<created_at ms> <Role: content>", plus the
                            session's own fields, all starting with "_" (no id does):
                            _next (last place handed out), _ms (last id time), _ns (namespace
                            last posted with), _rebuild (the stale-summary token)
    chatcli:order:{id}      sorted set: message id scored by its place; the transcript's order
    chatcli:window:{id}     sorted set: the ids of the messages in session:{id}, same scores,
                            so a message's list index is its ZREVRANK here
    chatcli:rebuild         set of session ids whose summary is stale (rebuilds to resume)

Long-term recall (Motörhead's `motorhead:{id}` hashes and chatcli:recall:* keys) is
redis_recall.py's; this module only calls it around its writes and marks the session in
recall's dirty set inside the append script.

The window list and the window set move together in the same scripts. Every transcript
script first `sync`s them, which is also how a Motörhead Redis is adopted, lazily and
atomically, on a session's first POST or transcript call: list items the set does not
track (all of them, the first time) enter the transcript at its end, oldest first.

Each API call is one round trip and atomic: one Lua script (the hot paths, POST and GET:
one command parses faster in redis-py than a MULTI/EXEC pipeline) or a MULTI/EXEC pipeline.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from chatcli.errors import first_line
from chatcli.server.errors import StoreUnavailable
from chatcli.server.redis_layout import ClusterLayout, KeyLayout, MotorheadLayout
from chatcli.server.redis_recall import RedisRecall
from chatcli.server.store import (
    ID_ALPHABET,
    ID_SEQ_DIGITS,
    ID_TIME_DIGITS,
    AlreadyClaimed,
    Claim,
    Entry,
    Forked,
    ForkStatus,
    Found,
    Imported,
    Memory,
    Message,
    NewEntry,
    Page,
    Pending,
    Rebuild,
    ToEmbed,
    message_line,
)

if TYPE_CHECKING:
    import numpy as np

EPOCH_TTL_SECONDS = 7 * 24 * 3600
"""Far longer than any compaction can take, short enough that deleted sessions leave nothing."""

SCAN_BATCH = 1000

WAIT_TIMEOUT_MS = 1000
"""How long a write waits for `wait_replicas` replicas before it is answered 503."""

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

_PAIRS = "".join(a + b for a in ID_ALPHABET for b in ID_ALPHABET)

# What every transcript script shares (prepended to each): ids built as store.message_id
# builds them, and `sync`, which makes the window set match the window list.
_PRELUDE = f"""
-- every two-digit string of store.ID_ALPHABET, in order:
-- two digits a step halve the work of each id (Lua string building is what ids cost)
local PAIRS = '{_PAIRS}'
local function base32(n, width)
  local out = ''
  for _ = 1, width / 2 do
    local d = n % 1024
    out = string.sub(PAIRS, d * 2 + 1, d * 2 + 2) .. out
    n = (n - d) / 1024
  end
  return out
end
-- The session's next places and ids; `save` records what was handed out.
local function places(t, now_ms)
  local held = redis.call('HMGET', t, '_next', '_ms', '_ns')
  local seq = tonumber(held[1] or '0')
  local ms = math.max(now_ms, tonumber(held[2] or '0'))
  local prefix = base32(ms, {ID_TIME_DIGITS})
  local p = {{namespace = held[3]}}
  function p.take()
    seq = seq + 1
    return seq, prefix .. base32(seq, {ID_SEQ_DIGITS})
  end
  function p.save() redis.call('HSET', t, '_next', seq, '_ms', ms) end
  -- what save() writes, as HSET field-value pairs to add to another HSET of `t`
  function p.fields() return '_next', seq, '_ms', ms end
  return p
end
local function stamp(ms) return string.format('%d ', ms) end
-- Items at the list's head (below `skip` just-pushed ones) that the set does not track
-- enter the transcript, oldest first, taking places from `p`; a list shorter than the set
-- lost its oldest. `len` and `tracked` are the list's length past `skip` and the set's.
local function adopt(list, t, o, w, skip, len, tracked, p, now_ms)
  if len > tracked then
    local extra = redis.call('LRANGE', list, skip, skip + len - tracked - 1)
    for i = #extra, 1, -1 do
      local seq, id = p.take()
      redis.call('HSET', t, id, stamp(now_ms) .. extra[i])
      redis.call('ZADD', o, seq, id)
      redis.call('ZADD', w, seq, id)
    end
  elseif len < tracked then
    redis.call('ZREMRANGEBYRANK', w, 0, tracked - len - 1)
  end
end
local function sync(list, t, o, w, skip, now_ms)
  local tracked = redis.call('ZCARD', w)
  local len = redis.call('LLEN', list) - skip
  if len > tracked then
    local p = places(t, now_ms)
    adopt(list, t, o, w, skip, len, tracked, p, now_ms)
    p.save()
  elseif len < tracked then
    adopt(list, t, o, w, skip, len, tracked, nil, now_ms)
  end
end
local function line_of(value) return string.sub(value, string.find(value, ' ', 1, true) + 1) end
-- The transcript's _ns: the namespace its index key names, '<prefix>sessions[:NS]'
-- (no layout's prefix contains 'sessions').
local function note_namespace(t, index)
  local _, stop = string.find(index, 'sessions', 1, true)
  if stop == #index then
    redis.call('HDEL', t, '_ns')
  else
    redis.call('HSET', t, '_ns', string.sub(index, stop + 2))
  end
end
"""

# KEYS: session, index, context. ARGV: now, session id, "1" to set the context, context,
# then the "Role: content" strings in array order. LPUSH in slices keeps that order (each
# slice lands on top of the previous one) and stays under Lua's unpack() stack limit.
# KEYS 4-6 are the session's transcript hash, order and window sets. With an
# Idempotency-Key, KEYS gains its record's key last (7th) and ARGV its value and ttl (ms)
# last; a record already there is returned (a string) instead of the length, unwritten.
# Profiled (INFO commandstats), each redis.call costs: the window is synced before the push
# from one ZCARD and one LLEN, the places (and the namespace last posted with) are read
# once, and one HSET writes the messages, the places handed out and the namespace.
# KEYS[7] is recall's dirty set (redis_recall.py), marked with the messages.
_APPEND = """
-- idempotency: KEYS[8], when given, is the key's record
local last = #ARGV
if #KEYS == 8 then
  local held = redis.call('GET', KEYS[8])
  if held then return held end
  redis.call('SET', KEYS[8], ARGV[last - 1], 'PX', ARGV[last])
  last = last - 2
end
redis.call('SADD', KEYS[7], ARGV[2])
if ARGV[3] == '1' then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
-- transcript: KEYS[4] transcript hash, KEYS[5] order, KEYS[6] window set
local now_ms = math.floor(tonumber(ARGV[1]) * 1000)
local tracked = redis.call('ZCARD', KEYS[6])
local length = redis.call('LLEN', KEYS[1])
local p = places(KEYS[4], now_ms)
if length ~= tracked then
  adopt(KEYS[1], KEYS[4], KEYS[5], KEYS[6], 0, length, tracked, p, now_ms)
end
-- one HSET and one ZADD per set for the whole POST, not one call per message each
local fields, scores = {}, {}
local prefix = stamp(now_ms)
for i = 5, last do
  local seq, id = p.take()
  fields[#fields + 1] = id
  fields[#fields + 1] = prefix .. ARGV[i]
  scores[#scores + 1] = seq
  scores[#scores + 1] = id
end
for i = 5, last, 1000 do
  length = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, last)))
end
for i = 1, #scores, 1000 do
  redis.call('ZADD', KEYS[5], unpack(scores, i, math.min(i + 999, #scores)))
  redis.call('ZADD', KEYS[6], unpack(scores, i, math.min(i + 999, #scores)))
end
local a, b, c, d = p.fields()
fields[#fields + 1] = a
fields[#fields + 1] = b
fields[#fields + 1] = c
fields[#fields + 1] = d
-- the namespace the index key names, '<prefix>sessions[:NS]' (as note_namespace reads it),
-- in the same HSET; an HDEL only when one was set before
local _, stop = string.find(KEYS[2], 'sessions', 1, true)
if stop ~= #KEYS[2] then
  fields[#fields + 1] = '_ns'
  fields[#fields + 1] = string.sub(KEYS[2], stop + 2)
elseif p.namespace then
  redis.call('HDEL', KEYS[4], '_ns')
end
for i = 1, #fields, 1000 do
  redis.call('HSET', KEYS[4], unpack(fields, i, math.min(i + 999, #fields)))
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
-- transcript: KEYS[5] window set; the summarized ids leave it (the transcript keeps them)
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, n - 1)
return 1
"""

# KEYS: session, transcript, order, window. ARGV: now, after, limit.
_TRANSCRIPT = """
sync(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 0, math.floor(tonumber(ARGV[1]) * 1000))
local found = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf', 'WITHSCORES',
  'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i = 1, #found, 2 do
  local id = found[i]
  local windowed = redis.call('ZSCORE', KEYS[4], id) and 1 or 0
  table.insert(out, {id, found[i + 1], redis.call('HGET', KEYS[2], id), windowed})
end
-- one JSON string: redis-py reads a reply element by element, 400 of them cost milliseconds
return cjson.encode({out, redis.call('HGET', KEYS[2], '_ns')})
"""

# KEYS: session, transcript, order, window. ARGV: now, id.
_MESSAGE = """
sync(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 0, math.floor(tonumber(ARGV[1]) * 1000))
local value = redis.call('HGET', KEYS[2], ARGV[2])
if not value then return false end
local windowed = redis.call('ZSCORE', KEYS[4], ARGV[2]) and 1 or 0
return {ARGV[2], redis.call('ZSCORE', KEYS[3], ARGV[2]), value, windowed}
"""

# Delete (ARGV[3] == '') or edit (ARGV[3] = the new content) one message.
# KEYS: session, transcript, order, window, rebuild set. ARGV: now, id, content, token,
# session id, "1" to edit.
_CHANGE = """
sync(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 0, math.floor(tonumber(ARGV[1]) * 1000))
local id = ARGV[2]
local value = redis.call('HGET', KEYS[2], id)
if not value then return false end
local seq = redis.call('ZSCORE', KEYS[3], id)
local rank = redis.call('ZREVRANK', KEYS[4], id)
local edit = ARGV[6] == '1'
local line = line_of(value)
local sep = string.find(line, ': ', 1, true)
local role = sep and string.sub(line, 1, sep - 1) or ''
local changed = role .. ': ' .. ARGV[3]
if rank then
  if edit then
    redis.call('LSET', KEYS[1], rank, changed)
  else
    local tomb = '\0chatcli-deleted\0' .. id
    redis.call('LSET', KEYS[1], rank, tomb)
    redis.call('LREM', KEYS[1], 1, tomb)
    redis.call('ZREM', KEYS[4], id)
  end
else
  redis.call('HSET', KEYS[2], '_rebuild', ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[5])
end
if edit then
  redis.call('HSET', KEYS[2], id, string.sub(value, 1, #value - #line) .. changed)
else
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
return {id, seq, value, rank and 1 or 0}
"""

# A fork in two halves, so a cluster can run them on two slots: `fork_read` takes the
# source's part (its six keys: session, transcript, order, window, context, tokens) as a
# table, `fork_write` puts it into the target's six keys, its index and rebuild set.
_FORK_PARTS = """
local function fork_taken(t)
  return redis.call('EXISTS', t[1], t[2], t[3], t[5], t[6]) > 0
end
local function fork_read(s, at, now_ms)
  sync(s[1], s[2], s[3], s[4], 0, now_ms)
  if redis.call('EXISTS', s[1], s[3], s[5]) == 0 then return {status = 'no_source'} end
  local upto = '+inf'
  local keep = true
  if at ~= '' then
    upto = redis.call('ZSCORE', s[3], at)
    if not upto then return {status = 'no_message'} end
    keep = redis.call('ZSCORE', s[4], at) ~= false
  end
  local found = redis.call('ZRANGEBYSCORE', s[3], '-inf', upto, 'WITHSCORES')
  local copied = {}
  for i = 1, #found, 2 do
    copied[#copied + 1] = {found[i], found[i + 1], redis.call('HGET', s[2], found[i])}
  end
  local d = {status = 'ok', copied = copied, window = copied, rebuild = false,
    next = redis.call('HGET', s[2], '_next') or '0', ms = redis.call('HGET', s[2], '_ms') or '0'}
  if keep then
    local windowed = redis.call('ZRANGEBYSCORE', s[4], '-inf', upto, 'WITHSCORES')
    d.window = {}
    for i = 1, #windowed, 2 do
      d.window[#d.window + 1] = {windowed[i], windowed[i + 1],
        redis.call('HGET', s[2], windowed[i])}
    end
    d.context = redis.call('GET', s[5])
    d.tokens = redis.call('GET', s[6])
    d.rebuild = redis.call('HEXISTS', s[2], '_rebuild') == 1
  end
  return d
end
local function fork_write(t, index, rebuild, d, target, token, namespace, now)
  if fork_taken(t) then return {'target_exists'} end
  for _, e in ipairs(d.copied) do
    redis.call('HSET', t[2], e[1], e[3])
    redis.call('ZADD', t[3], e[2], e[1])
  end
  if d.context then redis.call('SET', t[5], d.context) end
  if d.tokens then redis.call('SET', t[6], d.tokens) end
  if d.rebuild then
    redis.call('HSET', t[2], '_rebuild', token)
    redis.call('SADD', rebuild, target)
  end
  for _, e in ipairs(d.window) do
    redis.call('LPUSH', t[1], line_of(e[3]))
    redis.call('ZADD', t[4], e[2], e[1])
  end
  redis.call('HSET', t[2], '_next', d.next, '_ms', d.ms)
  if namespace ~= '' then redis.call('HSET', t[2], '_ns', namespace) end
  redis.call('ZADD', index, now, target)
  return {'ok', #d.copied, #d.window}
end
local function six(from) return {KEYS[from], KEYS[from + 1], KEYS[from + 2],
  KEYS[from + 3], KEYS[from + 4], KEYS[from + 5]} end
"""

# KEYS: the source's six, then the target's six, then the target's index and the rebuild
# set. ARGV: now, at ('' = all), target id, token, namespace ('' = none).
_FORK = """
local t = six(7)
if fork_taken(t) then return {'target_exists'} end
local d = fork_read(six(1), ARGV[2], math.floor(tonumber(ARGV[1]) * 1000))
if d.status ~= 'ok' then return {d.status} end
return fork_write(t, KEYS[13], KEYS[14], d, ARGV[3], ARGV[4], ARGV[5], ARGV[1])
"""

# The source's half alone, as JSON. KEYS: the source's six. ARGV: now, at.
_FORK_READ = """
return cjson.encode(fork_read(six(1), ARGV[2], math.floor(tonumber(ARGV[1]) * 1000)))
"""

# The target's half alone. KEYS: the target's six, its index, its rebuild set.
# ARGV: now, the source's half (JSON), target id, token, namespace.
_FORK_WRITE = """
local d = cjson.decode(ARGV[2])
return fork_write(six(1), KEYS[7], KEYS[8], d, ARGV[3], ARGV[4], ARGV[5], ARGV[1])
"""

# KEYS: session, context, tokens, transcript, order, window, index, rebuild set, epoch.
# ARGV: session id, the epoch's ttl (s).
_DELETE = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('SREM', KEYS[8], ARGV[1])
redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], ARGV[2])
return 1
"""

# KEYS: session, transcript, order, window, context, tokens, index. ARGV: now, session id,
# context ('' unless ARGV[4] == '1'), "1" to set the context, tokens ('' = keep),
# then per message: id, created_at ms, "1" if summarized, "Role: content".
_IMPORT = """
local now_ms = math.floor(tonumber(ARGV[1]) * 1000)
sync(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 0, now_ms)
local p = places(KEYS[2], now_ms)
local added = 0
for i = 6, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[2], id) == 0 then
    local seq = p.take()
    redis.call('HSET', KEYS[2], id, ARGV[i + 1] .. ' ' .. ARGV[i + 3])
    redis.call('ZADD', KEYS[3], seq, id)
    if ARGV[i + 2] ~= '1' then
      redis.call('LPUSH', KEYS[1], ARGV[i + 3])
      redis.call('ZADD', KEYS[4], seq, id)
    end
    added = added + 1
  end
end
p.save()
if ARGV[4] == '1' then redis.call('SET', KEYS[5], ARGV[3]) end
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5]) end
redis.call('ZADD', KEYS[7], ARGV[1], ARGV[2])
note_namespace(KEYS[2], KEYS[7])
return {added, redis.call('LLEN', KEYS[1])}
"""

# KEYS: transcript, order, window. The stale-summary token and the summarized lines.
_REBUILD_PENDING = """
local token = redis.call('HGET', KEYS[1], '_rebuild')
if not token then return false end
local lines = {}
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #ids do
  if not redis.call('ZSCORE', KEYS[3], ids[i]) then
    table.insert(lines, line_of(redis.call('HGET', KEYS[1], ids[i])))
  end
end
return {token, lines}
"""

# KEYS: transcript, context, tokens, rebuild set. ARGV: token, "1" to set a summary,
# summary, tokens, session id.
_COMMIT_REBUILD = """
if redis.call('HGET', KEYS[1], '_rebuild') ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], ARGV[3])
else
  redis.call('DEL', KEYS[2])
end
redis.call('INCRBY', KEYS[3], ARGV[4])
redis.call('HDEL', KEYS[1], '_rebuild')
redis.call('SREM', KEYS[4], ARGV[5])
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


class ReplicasBehind(StoreUnavailable):
    """A write reached fewer replicas than --redis-wait-replicas asks for in time: it is
    applied on the master, but is not acknowledged, since a failover could lose it."""

    def __init__(self, url: str, acked: int, wanted: int) -> None:
        super().__init__(
            f"redis at {url}: a write reached {acked} of {wanted} replicas within "
            f"{WAIT_TIMEOUT_MS} ms (server.redis_wait_replicas); retry it"
        )


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
        except (RedisError, RedisClusterException, OSError) as exc:
            raise RedisUnavailable(self.display_url, first_line(exc)) from exc
        except (AttributeError, TypeError, RuntimeError) as exc:
            if not lost_connection(exc):
                raise
            raise RedisUnavailable(self.display_url, "connection lost mid-command") from exc

    return call


REDIS_ASYNCIO = "/redis/asyncio/"


def lost_connection(exc: BaseException) -> bool:
    """redis-py's asyncio connection writing on a transport that was closed under it (a
    failover's reset, a peer's RST) raises what the transport raises instead of
    ConnectionError (redis-py #4287): asyncio's AttributeError or TypeError, uvloop's
    RuntimeError ("the handler is closed"); seen here as 500s in a cluster failover. It is
    one only if it passed through redis-py's asyncio code and was raised there, in
    asyncio's transports or in uvloop."""
    where: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        where.append(tb.tb_frame.f_code.co_filename.replace("\\", "/"))
        tb = tb.tb_next
    if not any(REDIS_ASYNCIO in name for name in where):
        return False
    return any(part in where[-1] for part in (REDIS_ASYNCIO, "/asyncio/", "uvloop"))


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


def cluster_url(url: str) -> str | None:
    """For a Redis Cluster URL, the plain URL redis-py's RedisCluster takes; else None.

    A cluster is named as agent-memory-server and other redis-py users name it: the
    scheme `redis+cluster://` (`rediss+cluster://` with TLS), or `?cluster=true` on a
    plain URL. One node is enough; the client finds the others.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flagged = any(k.lower() == "cluster" and v.lower() == "true" for k, v in query)
    if parts.scheme not in CLUSTER_SCHEMES and not flagged:
        return None
    kept = [(k, v) for k, v in query if k.lower() != "cluster"]
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme, path="", query=urlencode(kept)))


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


def _decode_entry(raw: list) -> Entry:
    """[id, place, "<ms> Role: content", in-window flag] as the scripts return them."""
    public, seq, value, windowed = raw
    ms, _, line = bytes(value).partition(b" ")
    message = decode_message(line)
    return Entry(
        public.decode(),
        message.role,
        message.content,
        int(ms),
        not int(windowed),
        int(float(seq)),
    )


class _Script(AsyncScript):
    """redis-py's AsyncScript, called as one EVALSHA: its own call checks on every call
    whether the client is a pipeline (an isinstance against a typing Protocol) and goes
    through evalsha's wrappers, which profiled at a few percent of a POST. The keys stay
    EVALSHA's declared keys, which is what routes a call on a cluster client."""

    async def __call__(  # type: ignore[override]
        self, keys: Sequence[str] = (), args: Sequence[str | bytes | int | float] = ()
    ) -> Any:
        client = self.registered_client
        try:
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.sha = await client.script_load(self.script)
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


class _Connection:
    """A client and its scripts, bound to the event loop that first used them."""

    def __init__(self, url: str, cluster: str | None, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # No retries on the cluster: redis-py would resend a script whose reply a failover
        # cut off, storing a POST twice. The request is answered 503 instead, and the
        # next one finds the new master (a lost connection makes redis-py re-read the map).
        self.cluster = cluster is not None
        self.client: redis.Redis | RedisCluster = (
            redis.Redis.from_url(url, socket_connect_timeout=5)
            if cluster is None
            else RedisCluster.from_url(
                cluster, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0)
            )
        )
        script = functools.partial(_Script, self.client)
        self.append: AsyncScript = script(_PRELUDE + _APPEND)
        self.get: AsyncScript = script(_GET)
        self.delete: AsyncScript = script(_DELETE)
        self.commit_summary: AsyncScript = script(_COMMIT_SUMMARY)
        self.transcript: AsyncScript = script(_PRELUDE + _TRANSCRIPT)
        self.message: AsyncScript = script(_PRELUDE + _MESSAGE)
        self.change: AsyncScript = script(_PRELUDE + _CHANGE)
        self.fork: AsyncScript = script(_PRELUDE + _FORK_PARTS + _FORK)
        self.fork_read: AsyncScript = script(_PRELUDE + _FORK_PARTS + _FORK_READ)
        self.fork_write: AsyncScript = script(_PRELUDE + _FORK_PARTS + _FORK_WRITE)
        self.import_messages: AsyncScript = script(_PRELUDE + _IMPORT)
        self.rebuild_pending: AsyncScript = script(_PRELUDE + _REBUILD_PENDING)
        self.commit_rebuild: AsyncScript = script(_COMMIT_REBUILD)
        self.refresh_lock: AsyncScript = self.client.register_script(_REFRESH_LOCK)
        self.unlock: AsyncScript = self.client.register_script(_UNLOCK)

    def pipeline(self, transaction: bool) -> Pipeline | ClusterPipeline:
        return self.client.pipeline(transaction=transaction)

    def node_of(self, key: str) -> dict[str, object]:
        """What sends a keyless command (WAIT) to the node holding `key`, on the
        connection a pipeline uses for that node's other commands."""
        if not self.cluster:
            return {}
        assert isinstance(self.client, RedisCluster)
        return {"target_nodes": self.client.get_node_from_key(key)}


class RedisStore:
    """Motörhead-compatible storage; several replicas on one Redis act as one server.

    On a Redis Cluster URL (see `cluster_url`) it uses the cluster key layout; with
    `wait_replicas`, every write is acknowledged only once that many replicas have it
    (Redis' WAIT), so an acknowledged write survives the failover of its master."""

    name = "redis"

    def __init__(self, url: str, wait_replicas: int = 0, layout: KeyLayout | None = None) -> None:
        self.url = url
        self.display_url = mask_url(url)
        self._cluster = cluster_url(url)
        self.layout: KeyLayout = layout or (
            MotorheadLayout() if self._cluster is None else ClusterLayout()
        )
        self.wait_replicas = wait_replicas
        self._conn: _Connection | None = None
        self.recall = RedisRecall(
            lambda: self._connection().client,
            self._transcript_keys,
            self._adopt,
            self.layout,
        )

    def _connection(self) -> _Connection:
        """One pool per store; a new one only if the store moves to another event loop
        (asyncio connections cannot be shared across loops, e.g. tests using asyncio.run)."""
        loop = asyncio.get_running_loop()
        if self._conn is None or self._conn.loop is not loop:
            self._conn = _Connection(self.url, self._cluster, loop)
        return self._conn

    def _pipeline(self) -> Pipeline | ClusterPipeline:
        return self._connection().pipeline(transaction=True)

    def _transcript_keys(self, session_id: str) -> list[str]:
        """The window list and chatcli's transcript hash, order and window set, as the
        transcript scripts take them."""
        keys = self.layout
        return [
            keys.messages(session_id),
            keys.transcript(session_id),
            keys.order(session_id),
            keys.window(session_id),
        ]

    async def _write(self, script: AsyncScript, keys: list[str], args: list) -> Any:
        """Run a writing script; with `wait_replicas`, on one connection with a WAIT
        after it, so the WAIT counts the replicas that have this very write."""
        if self.wait_replicas <= 0:
            return await script(keys=keys, args=args)
        conn = self._connection()
        async with conn.pipeline(transaction=False) as pipe:
            pipe.eval(script.script, len(keys), *keys, *args)
            node = conn.node_of(keys[0])
            pipe.execute_command("WAIT", self.wait_replicas, WAIT_TIMEOUT_MS, **node)
            result, acked = await pipe.execute()
        if int(acked) < self.wait_replicas:
            raise ReplicasBehind(self.display_url, int(acked), self.wait_replicas)
        return result

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
        layout = self.layout
        keys = [
            layout.messages(session_id),
            layout.index(session_id, namespace),
            layout.context(session_id),
            layout.transcript(session_id),
            layout.order(session_id),
            layout.window(session_id),
            layout.recall_dirty(session_id),
        ]
        args: list[str | float] = [
            now,
            session_id,
            "0" if context is None else "1",
            context or "",
            *(message_line(m) for m in messages),
        ]
        if claim is not None:
            await self._claim(claim)
            keys.append(layout.idem(session_id, claim.key))
            args += [f"{claim.session_id} {claim.digest}", _ms(claim.ttl)]
        length = await self._write(self._connection().append, keys, args)
        if isinstance(length, bytes):
            held_session, _, held_digest = length.decode("utf-8", "replace").partition(" ")
            raise AlreadyClaimed(held_session, held_digest)
        return int(length)

    async def _claim(self, claim: Claim) -> None:
        """Where the layout keeps an Idempotency-Key's record in its session's slot, the
        key's first session is set first (SET NX) in the key's own: a key reused for
        another session is refused as on one Redis, and a retry finds its own claim."""
        owner = self.layout.claim(claim.key)
        if owner is None:
            return
        client = self._connection().client
        value = f"{claim.session_id} {claim.digest}"
        if await client.set(owner, value, nx=True, px=_ms(claim.ttl)):
            return
        held = await client.get(owner)
        if held is None:
            return
        held_session, _, held_digest = held.decode("utf-8", "replace").partition(" ")
        if held_session != claim.session_id:
            raise AlreadyClaimed(held_session, held_digest)

    @_reports_unavailable
    async def get(self, session_id: str, limit: int) -> Memory:
        layout = self.layout
        raw_messages, context, tokens = await self._connection().get(
            keys=[
                layout.messages(session_id),
                layout.context(session_id),
                layout.tokens(session_id),
            ],
            args=[limit],
        )
        return Memory(
            messages=[decode_message(raw) for raw in raw_messages],
            context=None if context is None else context.decode("utf-8", "replace"),
            tokens=_int(tokens),
        )

    @_reports_unavailable
    async def delete(self, session_id: str, namespace: str | None) -> None:
        await self.recall.forget_session(session_id)
        layout = self.layout
        keys = [
            layout.messages(session_id),
            layout.context(session_id),
            layout.tokens(session_id),
            *self._transcript_keys(session_id)[1:],
            layout.index(session_id, namespace),
            layout.rebuild(session_id),
            layout.epoch(session_id),
        ]
        await self._write(self._connection().delete, keys, [session_id, EPOCH_TTL_SECONDS])
        await self.recall.forget_session(session_id)

    @_reports_unavailable
    async def list_sessions(self, namespace: str | None, offset: int, limit: int) -> list[str]:
        if limit <= 0:
            return []
        indexes = self.layout.indexes(namespace)
        if len(indexes) > 1:
            return await self._list_merged(indexes, offset, limit)
        ids = await self._connection().client.zrange(indexes[0], offset, offset + limit - 1)
        return [raw.decode("utf-8", "replace") for raw in ids]

    async def _list_merged(self, indexes: list[str], offset: int, limit: int) -> list[str]:
        """The sessions index kept as one sorted set per bucket: each set's first
        offset + limit, merged by (score, id) as one sorted set orders them."""
        async with self._connection().pipeline(transaction=False) as pipe:
            for key in indexes:
                pipe.zrange(key, 0, offset + limit - 1, withscores=True)
            shares = await pipe.execute()
        merged = heapq.merge(*([(score, raw) for raw, score in share] for share in shares))
        page = list(merged)[offset : offset + limit]
        return [raw.decode("utf-8", "replace") for _, raw in page]

    @_reports_unavailable
    async def count(self, session_id: str) -> int:
        return int(await self._connection().client.llen(self.layout.messages(session_id)))

    @_reports_unavailable
    async def pending(self, session_id: str, keep: int) -> Pending[TailMarker] | None:
        layout = self.layout
        async with self._pipeline() as pipe:
            pipe.lrange(layout.messages(session_id), max(keep, 0), -1)
            pipe.get(layout.context(session_id))  # not MGET: cluster pipelines refuse it
            pipe.get(layout.epoch(session_id))
            raw_messages, context, epoch = await pipe.execute()
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
        layout = self.layout
        done = await self._write(
            self._connection().commit_summary,
            [
                layout.messages(sid),
                layout.context(sid),
                layout.tokens(sid),
                layout.epoch(sid),
                layout.window(sid),
            ],
            [marker.count, summary, int(tokens), marker.epoch, *marker.items],
        )
        return bool(done)

    @_reports_unavailable
    async def try_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        taken = await self._connection().client.set(
            self.layout.lock(session_id), owner, nx=True, px=_ms(ttl)
        )
        return bool(taken)

    @_reports_unavailable
    async def refresh_lock(self, session_id: str, owner: str, ttl: float) -> bool:
        done = await self._connection().refresh_lock(
            keys=[self.layout.lock(session_id)], args=[owner, _ms(ttl)]
        )
        return bool(done)

    @_reports_unavailable
    async def unlock(self, session_id: str, owner: str) -> None:
        await self._connection().unlock(keys=[self.layout.lock(session_id)], args=[owner])

    @_reports_unavailable
    async def sessions_over(self, window: int) -> list[str]:
        """SCAN every `session:*` list (every master's, on a cluster) and LLEN them a
        batch per round trip.

        The store is never told the window, so it cannot keep a set of over-window sessions
        as it appends; and only the keys themselves also cover sessions Motörhead wrote (or
        that fell out of the index). This runs once at start-up, and SCAN never blocks Redis.
        No SCAN TYPE filter, which Redis 5 (still under some Motörhead deployments) lacks: a
        stray non-list `session:` key just answers LLEN with an error and is skipped.
        """
        conn = self._connection()
        layout = self.layout
        over: list[str] = []
        batch: list[bytes] = []

        async def check(keys: list[bytes]) -> None:
            async with conn.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.llen(key)
                lengths = await pipe.execute(raise_on_error=False)
            for key, length in zip(keys, lengths, strict=True):
                if isinstance(length, int) and length > window:
                    over.append(layout.session_of(key))

        async for key in conn.client.scan_iter(match=layout.messages_pattern, count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                await check(batch)
                batch = []
        if batch:
            await check(batch)
        return over

    @_reports_unavailable
    async def transcript(self, session_id: str, after: int, limit: int) -> Page:
        raw = await self._connection().transcript(
            keys=self._transcript_keys(session_id), args=[time.time(), after, limit + 1]
        )
        found, namespace = json.loads(raw.decode("utf-8", "replace"))
        if isinstance(found, dict):  # cjson writes an empty table as {}
            found = []
        entries = [_decode_entry([str(f).encode() for f in item]) for item in found[:limit]]
        more = len(found) > limit
        return Page(
            entries,
            entries[-1].seq if more else None,
            namespace if isinstance(namespace, str) else None,
        )

    @_reports_unavailable
    async def message(self, session_id: str, message_id: str) -> Entry | None:
        found = await self._connection().message(
            keys=self._transcript_keys(session_id), args=[time.time(), message_id]
        )
        return None if found is None else _decode_entry(found)

    async def _change(
        self, session_id: str, message_id: str, content: str | None, token: str
    ) -> Entry | None:
        """Recall forgets the message before and after the change (redis_recall.py)."""
        await self.recall.forget(session_id, [message_id], changed=False)
        found = await self._write(
            self._connection().change,
            [*self._transcript_keys(session_id), self.layout.rebuild(session_id)],
            [
                time.time(),
                message_id,
                content or "",
                token,
                session_id,
                "0" if content is None else "1",
            ],
        )
        if found is None:
            return None
        await self.recall.forget(session_id, [message_id], changed=True)
        return _decode_entry(found)

    @_reports_unavailable
    async def delete_message(self, session_id: str, message_id: str, token: str) -> Entry | None:
        return await self._change(session_id, message_id, None, token)

    @_reports_unavailable
    async def edit_message(
        self, session_id: str, message_id: str, content: str, token: str
    ) -> Entry | None:
        before = await self._change(session_id, message_id, content, token)
        if before is None:
            return None
        return Entry(
            before.id, before.role, content, before.created_at, before.summarized, before.seq
        )

    @_reports_unavailable
    async def fork(
        self,
        source: str,
        target: str,
        at: str | None,
        namespace: str | None,
        token: str,
        now: float,
    ) -> Forked:
        layout = self.layout

        def six(session_id: str) -> list[str]:
            keys = self._transcript_keys(session_id)
            return [*keys, layout.context(session_id), layout.tokens(session_id)]

        conn = self._connection()
        into = [*six(target), layout.index(target, namespace), layout.rebuild(target)]
        if layout.same_slot(source, target):
            found = await self._write(
                conn.fork,
                [*six(source), *into],
                [now, at or "", target, token, namespace or ""],
            )
        else:
            found = await self._fork_across(six(source), into, at, target, token, namespace, now)
        status = ForkStatus(found[0].decode())
        if status is not ForkStatus.OK:
            return Forked(status)
        await self.recall.touched(target)
        return Forked(status, int(found[1]), int(found[2]))

    async def _fork_across(
        self,
        source: list[str],
        into: list[str],
        at: str | None,
        target: str,
        token: str,
        namespace: str | None,
        now: float,
    ) -> list[bytes]:
        """A fork between two slots: the source's half read atomically, then written
        atomically into the target if it is still empty. A target that had data first
        is refused first, as the one-script fork refuses it."""
        conn = self._connection()
        target_keys = [into[i] for i in (0, 1, 2, 4, 5)]
        if await conn.client.exists(*target_keys) > 0:
            return [ForkStatus.TARGET_EXISTS.value.encode()]
        half = await conn.fork_read(keys=source, args=[now, at or ""])
        if json.loads(half)["status"] != ForkStatus.OK.value:
            return [json.loads(half)["status"].encode()]
        return await self._write(conn.fork_write, into, [now, half, target, token, namespace or ""])

    @_reports_unavailable
    async def import_messages(
        self,
        session_id: str,
        entries: Sequence[NewEntry],
        context: str | None,
        tokens: int | None,
        namespace: str | None,
        now: float,
    ) -> Imported:
        args: list[str | float | int] = [
            now,
            session_id,
            context or "",
            "0" if context is None else "1",
            "" if tokens is None else tokens,
        ]
        for e in entries:
            line = message_line(Message(e.role, e.content))
            args += [e.id, e.created_at, "1" if e.summarized else "0", line]
        layout = self.layout
        added, window = await self._write(
            self._connection().import_messages,
            [
                *self._transcript_keys(session_id),
                layout.context(session_id),
                layout.tokens(session_id),
                layout.index(session_id, namespace),
            ],
            args,
        )
        await self.recall.touched(session_id)
        return Imported(int(added), int(window))

    @_reports_unavailable
    async def needs_rebuild(self, session_id: str) -> bool:
        client = self._connection().client
        return bool(await client.hexists(self.layout.transcript(session_id), "_rebuild"))

    @_reports_unavailable
    async def rebuild_pending(self, session_id: str) -> Rebuild | None:
        found = await self._connection().rebuild_pending(keys=self._transcript_keys(session_id)[1:])
        if found is None:
            return None
        token, lines = found
        return Rebuild(session_id, [decode_message(raw) for raw in lines], token.decode())

    @_reports_unavailable
    async def commit_rebuild(self, rebuild: Rebuild, summary: str | None, tokens: int) -> bool:
        sid = rebuild.session_id
        layout = self.layout
        done = await self._write(
            self._connection().commit_rebuild,
            [layout.transcript(sid), layout.context(sid), layout.tokens(sid), layout.rebuild(sid)],
            [rebuild.token, "0" if summary is None else "1", summary or "", tokens, sid],
        )
        return bool(done)

    @_reports_unavailable
    async def sessions_to_rebuild(self) -> list[str]:
        async with self._connection().pipeline(transaction=False) as pipe:
            for key in self.layout.rebuild_sets():
                pipe.smembers(key)
            shares = await pipe.execute()
        return sorted({raw.decode("utf-8", "replace") for share in shares for raw in share})

    async def _adopt(self, session_id: str) -> None:
        """Take a Motörhead window list into the transcript (any transcript script does)."""
        await self._connection().transcript(
            keys=self._transcript_keys(session_id), args=[time.time(), 2**62, 1]
        )

    @_reports_unavailable
    async def unindexed(self, model: str, limit: int) -> list[ToEmbed]:
        return await self.recall.unindexed(model, limit)

    @_reports_unavailable
    async def add_vectors(self, model: str, vectors: Sequence[tuple[ToEmbed, bytes]]) -> int:
        return await self.recall.add_vectors(model, vectors)

    @_reports_unavailable
    async def backlog(self, model: str) -> int:
        return await self.recall.backlog(model)

    @_reports_unavailable
    async def keyword_search(self, session_id: str | None, text: str, limit: int) -> list[Found]:
        return await self.recall.keyword_search(session_id, text, limit)

    @_reports_unavailable
    async def nearest(
        self, session_id: str | None, model: str, vector: np.ndarray, limit: int
    ) -> list[Found]:
        return await self.recall.nearest(session_id, model, vector, limit)

    @_reports_unavailable
    async def ping(self) -> None:
        await self._connection().client.ping()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is asyncio.get_running_loop():
            await conn.client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
