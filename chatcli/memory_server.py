"""The memory server a command talks to: the configured one, or an embedded one for its lifetime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chatcli.client import MotorheadClient
from chatcli.config import Settings
from chatcli.env import Environment


@contextmanager
def open_memory(env: Environment, settings: Settings) -> Iterator[str]:
    """Yield the memory base URL, checked once, so a down server fails before any LLM work.

    With no memory.url the server runs in this process on a loopback port over the same
    SQLite file `chatcli serve` uses, so nothing has to be started first.
    """
    if settings.memory.url:
        url = settings.memory.url.rstrip("/")
        with MotorheadClient(url, settings.memory.api_key, settings.memory.timeout) as client:
            client.health()
        yield url
        return
    from chatcli.server.embedded import EmbeddedServer

    with EmbeddedServer(settings) as url:
        yield url.rstrip("/")


def memory_api_key(settings: Settings) -> str | None:
    """The key to send: memory.api_key; for the embedded server, also the server's own key.

    server.api_key is only ever sent to the embedded server, never to a configured URL,
    so a key meant for the user's own `chatcli serve` does not leak elsewhere.
    """
    if settings.memory.url:
        return settings.memory.api_key
    return settings.memory.api_key or settings.server.api_key


def client_for(settings: Settings, url: str) -> MotorheadClient:
    """A client of `url` (from open_memory) with the right key and the user's timeout."""
    return MotorheadClient(url, memory_api_key(settings), settings.memory.timeout)


def describe(settings: Settings, url: str) -> str:
    """Where the sessions live, in words a user can act on (the embedded port means nothing)."""
    if settings.memory.url:
        return f"the memory server at {url}"
    return f"the embedded memory at {settings.server.db}"
