"""Choosing the store a server runs on, from its settings.

The Redis store is imported only when asked for, so the embedded server (SQLite)
never pays for redis-py.
"""

from __future__ import annotations

from chatcli.config import ServerSettings
from chatcli.errors import first_line
from chatcli.server.errors import SetupError, StoreUnavailable
from chatcli.server.store import Store


def open_store(settings: ServerSettings) -> Store:
    """The configured store, opened; SetupError or StoreUnavailable naming the fix
    when it cannot be."""
    if settings.store == "redis":
        check_redis(settings.redis_url)
        from chatcli.server.redis_store import RedisStore

        if settings.redis_wait_replicas < 0:
            raise SetupError(
                f"server.redis_wait_replicas must be 0 or more, got {settings.redis_wait_replicas}"
            )
        return RedisStore(settings.redis_url, wait_replicas=settings.redis_wait_replicas)
    if settings.store == "sqlite":
        from chatcli.server.sqlite_store import SQLiteStore

        if not settings.db:
            raise SetupError("server.db is not set: give the SQLite file with --db")
        return SQLiteStore(settings.db)
    raise SetupError(f"server.store must be sqlite or redis, got {settings.store!r}")


def check_redis(url: str, timeout: float = 3.0) -> None:
    """One synchronous PING, so `chatcli serve` fails at once with a message, not on the
    first request; it runs outside any event loop, so it cannot tie the store to one."""
    import redis
    from redis.cluster import RedisCluster
    from redis.exceptions import RedisClusterException

    from chatcli.server.redis_store import cluster_url, mask_url

    shown = mask_url(url)
    cluster = cluster_url(url)
    client: redis.Redis | RedisCluster
    try:
        if cluster is None:
            client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        else:
            client = RedisCluster.from_url(
                cluster, socket_connect_timeout=timeout, socket_timeout=timeout
            )
    except ValueError as exc:
        raise SetupError(
            f"invalid Redis URL {shown}: {exc}; fix --redis-url or REDIS_URL"
        ) from None
    except (redis.RedisError, RedisClusterException) as exc:
        raise StoreUnavailable(
            f"Redis Cluster at {shown} is not answering ({first_line(exc)}): start it "
            "or fix --redis-url / REDIS_URL"
        ) from None
    try:
        client.ping()
    except (redis.RedisError, RedisClusterException) as exc:
        raise StoreUnavailable(
            f"Redis at {shown} is not answering ({first_line(exc)}): start redis-server "
            "or fix --redis-url / REDIS_URL"
        ) from None
    finally:
        client.close()


def describe(settings: ServerSettings) -> str:
    """The store for a start-up line: its kind and where it lives, passwords masked."""
    if settings.store == "redis":
        from chatcli.server.redis_store import mask_url

        return f"redis {mask_url(settings.redis_url)}"
    return f"sqlite {settings.db}"
