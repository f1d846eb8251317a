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

from chatcli.config import ServerSettings
from chatcli.server.app import create_app
from chatcli.server.http_limits import HttpLimits
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


@dataclass
class Live:
    """A running server, a client for it, and a view of the store behind it."""

    url: str
    store: str
    client: httpx.Client
    fingerprint: Callable[[], Any]
    settings: ServerSettings

    def new_id(self, prefix: str = "s") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sqlite_fingerprint(path: Path) -> Callable[[], Any]:
    def read() -> str:
        with sqlite3.connect(path) as conn:
            return "\n".join(conn.iterdump())

    return read


def redis_fingerprint(redis_proc: RedisServer) -> Callable[[], Any]:
    import redis

    client = redis.Redis(port=redis_proc.port)

    def read() -> dict[bytes, Any]:
        return {key: client.dump(key) for key in client.scan_iter(count=1000)}

    return read


def cluster_fingerprint(cluster: RedisClusterServer) -> Callable[[], Any]:
    from redis.cluster import RedisCluster

    client = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)

    def read() -> dict[bytes, Any]:
        return {key: client.dump(key) for key in client.scan_iter(count=1000)}

    return read


def open_store(kind: str, tmp: Path, request: pytest.FixtureRequest) -> tuple[Store, Any]:
    if kind == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        path = tmp / "memory.db"
        return SQLiteStore(path), sqlite_fingerprint(path)
    from chatcli.server.redis_store import RedisStore

    if kind == "redis-cluster":
        cluster: RedisClusterServer = request.getfixturevalue("redis_cluster_proc")
        return RedisStore(cluster.url), cluster_fingerprint(cluster)

    redis_proc: RedisServer = request.getfixturevalue("redis_proc")
    return RedisStore(redis_proc.url), redis_fingerprint(redis_proc)


@contextlib.contextmanager
def live_server(
    kind: str, tmp: Path, request: pytest.FixtureRequest, **overrides: Any
) -> Iterator[Live]:
    store, fingerprint = open_store(kind, tmp, request)
    settings = ServerSettings(
        window=WINDOW, summarize=False, max_body_bytes=BODY_LIMIT, **overrides
    )
    app = create_app(store, settings, None)
    headers = {"x-api-key": settings.api_key} if settings.api_key else {}
    limits = HttpLimits.from_settings(settings)
    with (
        ThreadedServer(app, limits=limits) as url,
        httpx.Client(base_url=url, headers=headers) as client,
    ):
        yield Live(url, kind, client, fingerprint, settings)


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
