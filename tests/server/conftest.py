"""Live memory servers for the API tests: the real app under uvicorn on a free loopback port,
once over a SQLite file and once over the session's real redis-server.

The shared servers live for a module (starting one is cheap, but not free); tests keep out
of each other's way with their own session ids (`live.new_id()`) and namespaces, so nothing
is flushed between them. `live.fingerprint()` reads the whole backing store, so a test can
show that a refused request wrote nothing at all.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatcli.config import ServerSettings, Settings
from chatcli.server.app import create_app
from chatcli.server.embedding import EmbedderHandle
from chatcli.server.http_limits import HttpLimits
from chatcli.server.indexer import Indexer
from chatcli.server.redis_layout import ClusterLayout, KeyLayout
from chatcli.server.redis_store import RedisStore, cluster_url
from chatcli.server.store import Store
from chatcli.server.threaded import ThreadedServer
from tests.support.procs import RedisClusterServer, RedisServer

STORES = ["sqlite", "redis"]
ALL_STORES = [*STORES, "redis-cluster"]
"""For modules that also run on the session's Redis Cluster:
`pytestmark = pytest.mark.parametrize("live", ALL_STORES, indirect=True)`."""
WINDOW = 6
BODY_LIMIT = 256 * 1024
API_KEY = "test-key-1234"
RECALL_STORES = ALL_STORES
"""The stores long-term memory runs on: all of them."""
RECALL_DATABASES = {"on": 22, "keyword": 23}
"""The Redis database of each kind of recall server (RECALL_TEST_DATABASE is the store
contract test's)."""
RECALL_TEST_DATABASE = 20
TEST_EMBEDDING = "wordllama"
"""The packaged model the recall tests embed with: the fastest to load and to run."""


@dataclass
class RawRedis:
    """What a Redis store holds, read past the server: a plain client and the store's layout."""

    client: Any
    """redis.Redis, or redis.cluster.RedisCluster on the cluster."""
    layout: KeyLayout

    @classmethod
    def of(cls, store: RedisStore) -> RawRedis:
        import redis
        from redis.cluster import RedisCluster

        plain = cluster_url(store.url)
        client = redis.Redis.from_url(store.url) if plain is None else RedisCluster.from_url(plain)
        return cls(client, store.layout)

    def vector_hashes(self) -> list[dict[bytes, bytes]]:
        """Every hash holding a vector: Motörhead's `motorhead:*`, or a cluster's own."""
        pattern = self.layout.recall_vector_pattern
        return [self.client.hgetall(key) for key in self.client.scan_iter(match=pattern)]


@dataclass
class Live:
    """A running server, a client for it, and a view of the store behind it."""

    url: str
    store: str
    client: httpx.Client
    fingerprint: Callable[[], Any]
    settings: ServerSettings
    db: Path | None = None
    """The SQLite file, on that store."""
    redis: RawRedis | None = None
    """The Redis data, on the Redis stores."""

    def new_id(self, prefix: str = "s") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sqlite_fingerprint(path: Path) -> Callable[[], Any]:
    def read() -> str:
        with sqlite3.connect(path) as conn:
            return "\n".join(conn.iterdump())

    return read


def redis_fingerprint(redis_proc: RedisServer, db: int = 0) -> Callable[[], Any]:
    import redis

    client = redis.Redis(port=redis_proc.port, db=db)

    def read() -> dict[bytes, Any]:
        return {key: client.dump(key) for key in client.scan_iter(count=1000)}

    return read


def cluster_fingerprint(cluster: RedisClusterServer) -> Callable[[], Any]:
    from redis.cluster import RedisCluster

    client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)

    def read() -> dict[bytes, Any]:
        return {key: client.dump(key) for key in client.scan_iter(count=1000)}

    return read


def open_store(
    kind: str, tmp: Path, request: pytest.FixtureRequest, database: int | None = None
) -> tuple[Store, Any]:
    """`database`: on Redis, a database of its own, emptied (recall's indexer walks every
    session at start, and a recall test counts the backlog of all of them); on the cluster,
    a key prefix of its own."""
    if kind == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        path = tmp / "memory.db"
        return SQLiteStore(path), sqlite_fingerprint(path)
    if kind == "redis-cluster":
        cluster: RedisClusterServer = request.getfixturevalue("redis_cluster_proc")
        if database is not None:
            layout = ClusterLayout(prefix=cluster.own_prefix(database))
            return RedisStore(cluster.url, layout=layout), cluster_fingerprint(cluster)
        return RedisStore(cluster.url), cluster_fingerprint(cluster)

    redis_proc: RedisServer = request.getfixturevalue("redis_proc")
    if database is not None:
        url = redis_proc.own_database(database)
        return RedisStore(url), redis_fingerprint(redis_proc, database)
    return RedisStore(redis_proc.url), redis_fingerprint(redis_proc)


def recall_embedder() -> EmbedderHandle:
    return EmbedderHandle.from_settings(Settings(server=ServerSettings(embedding=TEST_EMBEDDING)))


@contextlib.contextmanager
def live_server(
    kind: str,
    tmp: Path,
    request: pytest.FixtureRequest,
    recall: str = "off",
    **overrides: Any,
) -> Iterator[Live]:
    """`recall`: "off" (no embedder: /retrieval is disabled), "on" (embedder and a quick
    indexer) or "keyword" (an embedder but no indexer, so no message ever has a vector)."""
    store, fingerprint = open_store(kind, tmp, request, RECALL_DATABASES.get(recall))
    settings = ServerSettings(
        window=WINDOW, summarize=False, max_body_bytes=BODY_LIMIT, **overrides
    )
    embedder = None if recall == "off" else recall_embedder()
    indexer = Indexer(store, embedder, poll=0.1) if embedder and recall == "on" else None
    app = create_app(store, settings, None, embedder=embedder, indexer=indexer)
    headers = {"x-api-key": settings.api_key} if settings.api_key else {}
    limits = HttpLimits.from_settings(settings)
    with (
        ThreadedServer(app, limits=limits) as url,
        httpx.Client(base_url=url, headers=headers) as client,
    ):
        db = tmp / "memory.db" if kind == "sqlite" else None
        raw = RawRedis.of(store) if isinstance(store, RedisStore) else None
        yield Live(url, kind, client, fingerprint, settings, db, raw)


@pytest.fixture(scope="module", params=STORES)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server shared by a module's tests, per store; use your own ids and namespaces."""
    with live_server(request.param, tmp_path_factory.mktemp(request.param), request) as server:
        yield server


@pytest.fixture(params=STORES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """A server over an empty store, for tests about the whole sessions index."""
    if request.param == "redis":
        request.getfixturevalue("redis_proc").flush()
    if request.param == "redis-cluster":
        request.getfixturevalue("redis_cluster_proc").flush()
    with live_server(request.param, tmp_path, request) as server:
        yield server


@pytest.fixture(scope="module", params=STORES)
def keyed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server that requires API_KEY; its client sends no key unless a test adds one."""
    tmp = tmp_path_factory.mktemp(f"keyed-{request.param}")
    with live_server(request.param, tmp, request, api_key=API_KEY) as server:
        server.client.headers.pop("x-api-key", None)
        yield server


@pytest.fixture(scope="module", params=RECALL_STORES)
def recalling(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """A server with long-term memory and its indexer, per store that has recall."""
    tmp = tmp_path_factory.mktemp(f"recall-{request.param}")
    with live_server(request.param, tmp, request, recall="on") as server:
        yield server


@pytest.fixture(scope="module", params=RECALL_STORES)
def keyword_only(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """Long-term memory whose indexer never runs: every message is still without a vector."""
    tmp = tmp_path_factory.mktemp(f"keyword-{request.param}")
    with live_server(request.param, tmp, request, recall="keyword") as server:
        yield server
