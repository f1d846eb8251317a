"""--redis-wait-replicas: a write is acknowledged only once that many replicas have it."""

from __future__ import annotations

import asyncio

import pytest

from chatcli.server.errors import StoreUnavailable
from chatcli.server.redis_store import RedisStore
from chatcli.server.store import Message
from tests.support.procs import RedisClusterServer, RedisServer


def post(store: RedisStore, session: str) -> int:
    async def main() -> int:
        try:
            return await store.append(session, [Message("Human", "hi")], None, None, 1.0)
        finally:
            await store.close()

    return asyncio.run(main())


def test_a_write_no_replica_confirms_is_unavailable_not_acknowledged(
    redis_proc: RedisServer,
) -> None:
    with pytest.raises(StoreUnavailable, match="reached 0 of 1 replicas"):
        post(RedisStore(redis_proc.url, wait_replicas=1), "wait-alone")


def test_a_write_on_a_cluster_is_acknowledged_once_its_replica_has_it(
    redis_cluster_proc: RedisClusterServer,
) -> None:
    assert post(RedisStore(redis_cluster_proc.url, wait_replicas=1), "wait-cluster") == 1
