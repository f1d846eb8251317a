"""Where the Redis store keeps each thing: the key names, one layout per kind of Redis.

`MotorheadLayout` is Motörhead's own layout (see redis_store.py), for one Redis: the
default, and what LangChain's client and Motörhead itself read.

`ClusterLayout` is for a Redis Cluster, where a script may only touch keys of one hash
slot. Every session belongs to one of `CLUSTER_BUCKETS` buckets (crc32 of its id), and
every key of the session carries the bucket as its hash tag, so a session's keys share
a slot and every script stays one atomic step:

    chatcli:{B}:session:{id}      the window list (Motörhead's session:{id})
    chatcli:{B}:context:{id}      the summary
    chatcli:{B}:tokens:{id}       summarization tokens spent
    chatcli:{B}:transcript:{id}   chatcli's transcript hash, order and window sets,
    chatcli:{B}:order:{id}        as in the Motörhead layout
    chatcli:{B}:window:{id}
    chatcli:{B}:lock:{id}         compaction lock
    chatcli:{B}:epoch:{id}        delete counter
    chatcli:{B}:idem:{key}        an Idempotency-Key's record, in its session's bucket
    chatcli:{B}:sessions[:NS]     the bucket's share of the sessions index
    chatcli:{B}:rebuild           the bucket's sessions whose summary is stale
    chatcli:{B}:recall:docs:{id}  long-term recall's keys (redis_recall.py): the session's
    chatcli:{B}:recall:upto:{id}  vector bookkeeping and per-model cursors,
    chatcli:{B}:vector:c<h>.<m>   one hash per message vector (Motörhead's motorhead:{id}
                                  fields), <h> a digest of the session id, <m> the message id,
    chatcli:{B}:recall:dirty      the bucket's sessions waiting for the indexer,
    chatcli:{B}:recall:log        the bucket's stream of vector changes
    chatcli:recall:epoch          one key for the whole cluster (a flush is noticed)
    chatcli:{K}:claim:{key}       which session an Idempotency-Key belongs to, in the
                                  key's own bucket K (see `claim`)

The sessions index is a sorted set per bucket, written by the same script as the
messages, so it can never disagree with them; listing merges the buckets' sets by
(score, id), which is exactly the order one sorted set would keep. A bucket is a slot,
so the buckets spread over the masters as slots do; their number is part of the layout
(changing it moves every session).

Long-term recall keeps Motörhead's `motorhead:{id}` hashes on one Redis; on a cluster there is
no Motörhead data to serve (Motörhead never ran on one), so `motorhead_long_term` is false and
the vectors take the session's hash tag like everything else. Every recall script then touches
one session's keys and its bucket's dirty set and log: one slot, as the POST script.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Protocol

CLUSTER_BUCKETS = 256
"""Enough slots to spread over a few dozen masters; few enough that listing the sessions
(one ZRANGE per bucket, pipelined) stays a few milliseconds."""


class KeyLayout(Protocol):
    """The key names the Redis store's scripts and commands are given."""

    def messages(self, session_id: str) -> str: ...
    def context(self, session_id: str) -> str: ...
    def tokens(self, session_id: str) -> str: ...
    def transcript(self, session_id: str) -> str: ...
    def order(self, session_id: str) -> str: ...
    def window(self, session_id: str) -> str: ...
    def lock(self, session_id: str) -> str: ...
    def epoch(self, session_id: str) -> str: ...

    def idem(self, session_id: str, key: str) -> str:
        """The Idempotency-Key's record, written by the append script itself."""
        ...

    def claim(self, key: str) -> str | None:
        """A key that records which session an Idempotency-Key was first used for, set
        before the append; None when `idem` is one key for every session already."""
        ...

    def index(self, session_id: str, namespace: str | None) -> str:
        """The sessions index the session's writes update."""
        ...

    def indexes(self, namespace: str | None) -> list[str]:
        """Every sorted set whose merge is the namespace's sessions index."""
        ...

    def rebuild(self, session_id: str) -> str:
        """The set of stale-summary sessions the session's scripts update."""
        ...

    def rebuild_sets(self) -> list[str]:
        """Every set whose union is the sessions with a stale summary."""
        ...

    def recall_dirty(self, session_id: str) -> str:
        """The set of sessions with messages long-term memory has not indexed (redis_recall.py),
        which the append script marks."""
        ...

    def recall_dirty_sets(self) -> list[str]:
        """Every set whose union is the sessions waiting for the indexer."""
        ...

    def same_slot(self, a: str, b: str) -> bool:
        """Whether one script may touch both sessions' keys."""
        ...

    def recall_docs(self, session_id: str) -> str:
        """Which model each of the session's messages has a vector of, and counts per model."""
        ...

    def recall_cursor(self, session_id: str) -> str:
        """Per model, the transcript place up to which every message has a vector."""
        ...

    def recall_foreign(self, session_id: str) -> str:
        """The session's Motörhead-written hashes (only where `motorhead_long_term`)."""
        ...

    def recall_vector(self, session_id: str, message_id: str) -> str:
        """The hash holding one transcript message's vector."""
        ...

    @property
    def recall_vector_pattern(self) -> str:
        """A SCAN pattern matching every `recall_vector` hash (on one Redis, Motörhead's own
        hashes too: they share the prefix)."""
        ...

    def recall_log(self, session_id: str) -> str:
        """The stream of vector changes the session's scripts append to."""
        ...

    def recall_logs(self) -> list[str]:
        """Every stream of vector changes."""
        ...

    @property
    def recall_epoch(self) -> str:
        """A token that changes when the data is flushed under a running process."""
        ...

    @property
    def motorhead_long_term(self) -> bool:
        """Whether Motörhead's own `motorhead:{id}` hashes may be here to adopt and serve."""
        ...

    def shard(self, session_id: str) -> int:
        """Sessions of one shard may share a script (one slot); on one Redis, all do."""
        ...

    @property
    def transcript_pattern(self) -> str:
        """A SCAN pattern matching every transcript hash."""
        ...

    def session_of_transcript(self, transcript_key: bytes) -> str:
        """The session id in a transcript hash's key."""
        ...

    @property
    def messages_pattern(self) -> str:
        """A SCAN pattern matching every window list."""
        ...

    def session_of(self, messages_key: bytes) -> str:
        """The session id in a window list's key."""
        ...


def _index_name(namespace: str | None) -> str:
    return f"sessions:{namespace}" if namespace else "sessions"


MOTORHEAD_PREFIX = "motorhead:"
"""Motörhead's long-term hashes, `motorhead:{id}` (its id a nanoid): on one Redis only."""


def motorhead_hash(motorhead_id: str) -> str:
    return f"{MOTORHEAD_PREFIX}{motorhead_id}"


def _vector_name(session_id: str, message_id: str) -> str:
    """Unique per (session, message) without repeating a long session id in every key."""
    digest = hashlib.sha1(session_id.encode("utf-8")).hexdigest()[:16]
    return f"c{digest}.{message_id}"


@dataclass(frozen=True)
class MotorheadLayout:
    """Motörhead's keys and chatcli's `chatcli:*` keys beside them, on one Redis."""

    def messages(self, session_id: str) -> str:
        return f"session:{session_id}"

    def context(self, session_id: str) -> str:
        return f"context:{session_id}"

    def tokens(self, session_id: str) -> str:
        return f"tokens:{session_id}"

    def transcript(self, session_id: str) -> str:
        return f"chatcli:transcript:{session_id}"

    def order(self, session_id: str) -> str:
        return f"chatcli:order:{session_id}"

    def window(self, session_id: str) -> str:
        return f"chatcli:window:{session_id}"

    def lock(self, session_id: str) -> str:
        return f"chatcli:lock:{session_id}"

    def epoch(self, session_id: str) -> str:
        return f"chatcli:epoch:{session_id}"

    def idem(self, session_id: str, key: str) -> str:
        return f"chatcli:idem:{key}"

    def claim(self, key: str) -> str | None:
        return None

    def index(self, session_id: str, namespace: str | None) -> str:
        return _index_name(namespace)

    def indexes(self, namespace: str | None) -> list[str]:
        return [_index_name(namespace)]

    def rebuild(self, session_id: str) -> str:
        return "chatcli:rebuild"

    def rebuild_sets(self) -> list[str]:
        return ["chatcli:rebuild"]

    def recall_dirty(self, session_id: str) -> str:
        return "chatcli:recall:dirty"

    def recall_dirty_sets(self) -> list[str]:
        return ["chatcli:recall:dirty"]

    def same_slot(self, a: str, b: str) -> bool:
        return True

    def recall_docs(self, session_id: str) -> str:
        return f"chatcli:recall:docs:{session_id}"

    def recall_cursor(self, session_id: str) -> str:
        return f"chatcli:recall:upto:{session_id}"

    def recall_foreign(self, session_id: str) -> str:
        return f"chatcli:recall:foreign:{session_id}"

    def recall_vector(self, session_id: str, message_id: str) -> str:
        return motorhead_hash(_vector_name(session_id, message_id))

    @property
    def recall_vector_pattern(self) -> str:
        return f"{MOTORHEAD_PREFIX}*"

    def recall_log(self, session_id: str) -> str:
        return "chatcli:recall:log"

    def recall_logs(self) -> list[str]:
        return ["chatcli:recall:log"]

    @property
    def recall_epoch(self) -> str:
        return "chatcli:recall:epoch"

    @property
    def motorhead_long_term(self) -> bool:
        return True

    def shard(self, session_id: str) -> int:
        return 0

    @property
    def transcript_pattern(self) -> str:
        return "chatcli:transcript:*"

    def session_of_transcript(self, transcript_key: bytes) -> str:
        return transcript_key[len(b"chatcli:transcript:") :].decode("utf-8", "replace")

    @property
    def messages_pattern(self) -> str:
        return "session:*"

    def session_of(self, messages_key: bytes) -> str:
        return messages_key[len(b"session:") :].decode("utf-8", "replace")


def bucket(text: str, buckets: int = CLUSTER_BUCKETS) -> int:
    """The cluster bucket of a session id or an Idempotency-Key: stable across processes."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % buckets


@dataclass(frozen=True)
class ClusterLayout:
    """Hash-tagged keys: a session's keys in its bucket's slot (see the module's doc)."""

    buckets: int = CLUSTER_BUCKETS
    prefix: str = "chatcli"
    """What every key starts with: several deployments (or test runs) can share a cluster."""

    def _in(self, session_id: str, kind: str) -> str:
        return f"{self.prefix}:{{{bucket(session_id, self.buckets)}}}:{kind}:{session_id}"

    def messages(self, session_id: str) -> str:
        return self._in(session_id, "session")

    def context(self, session_id: str) -> str:
        return self._in(session_id, "context")

    def tokens(self, session_id: str) -> str:
        return self._in(session_id, "tokens")

    def transcript(self, session_id: str) -> str:
        return self._in(session_id, "transcript")

    def order(self, session_id: str) -> str:
        return self._in(session_id, "order")

    def window(self, session_id: str) -> str:
        return self._in(session_id, "window")

    def lock(self, session_id: str) -> str:
        return self._in(session_id, "lock")

    def epoch(self, session_id: str) -> str:
        return self._in(session_id, "epoch")

    def idem(self, session_id: str, key: str) -> str:
        return f"{self.prefix}:{{{bucket(session_id, self.buckets)}}}:idem:{key}"

    def claim(self, key: str) -> str | None:
        return f"{self.prefix}:{{{bucket(key, self.buckets)}}}:claim:{key}"

    def _index(self, number: int, namespace: str | None) -> str:
        return f"{self.prefix}:{{{number}}}:{_index_name(namespace)}"

    def index(self, session_id: str, namespace: str | None) -> str:
        return self._index(bucket(session_id, self.buckets), namespace)

    def indexes(self, namespace: str | None) -> list[str]:
        return [self._index(n, namespace) for n in range(self.buckets)]

    def rebuild(self, session_id: str) -> str:
        return f"{self.prefix}:{{{bucket(session_id, self.buckets)}}}:rebuild"

    def rebuild_sets(self) -> list[str]:
        return [f"{self.prefix}:{{{n}}}:rebuild" for n in range(self.buckets)]

    def recall_dirty(self, session_id: str) -> str:
        return f"{self.prefix}:{{{bucket(session_id, self.buckets)}}}:recall:dirty"

    def recall_dirty_sets(self) -> list[str]:
        return [f"{self.prefix}:{{{n}}}:recall:dirty" for n in range(self.buckets)]

    def same_slot(self, a: str, b: str) -> bool:
        return bucket(a, self.buckets) == bucket(b, self.buckets)

    def recall_docs(self, session_id: str) -> str:
        return self._in(session_id, "recall:docs")

    def recall_cursor(self, session_id: str) -> str:
        return self._in(session_id, "recall:upto")

    def recall_foreign(self, session_id: str) -> str:
        return self._in(session_id, "recall:foreign")

    def recall_vector(self, session_id: str, message_id: str) -> str:
        tag = bucket(session_id, self.buckets)
        return f"{self.prefix}:{{{tag}}}:vector:{_vector_name(session_id, message_id)}"

    @property
    def recall_vector_pattern(self) -> str:
        return f"{self.prefix}:{{*}}:vector:*"

    def recall_log(self, session_id: str) -> str:
        return f"{self.prefix}:{{{bucket(session_id, self.buckets)}}}:recall:log"

    def recall_logs(self) -> list[str]:
        return [f"{self.prefix}:{{{n}}}:recall:log" for n in range(self.buckets)]

    @property
    def recall_epoch(self) -> str:
        return f"{self.prefix}:recall:epoch"

    @property
    def motorhead_long_term(self) -> bool:
        return False

    def shard(self, session_id: str) -> int:
        return bucket(session_id, self.buckets)

    @property
    def transcript_pattern(self) -> str:
        return f"{self.prefix}:{{*}}:transcript:*"

    def session_of_transcript(self, transcript_key: bytes) -> str:
        return transcript_key.partition(b"}:transcript:")[2].decode("utf-8", "replace")

    @property
    def messages_pattern(self) -> str:
        return f"{self.prefix}:{{*}}:session:*"

    def session_of(self, messages_key: bytes) -> str:
        return messages_key.partition(b"}:session:")[2].decode("utf-8", "replace")
