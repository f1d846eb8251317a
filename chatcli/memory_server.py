"""The memory server a command talks to: the configured one, or an embedded one for its lifetime."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chatcli.client import MotorheadClient, SessionMemory, parse_memory, refused_input
from chatcli.config import Settings
from chatcli.env import Environment

if TYPE_CHECKING:
    from chatcli.local_models import LocalModels


@contextmanager
def open_memory(
    env: Environment, settings: Settings, models: LocalModels | None = None
) -> Iterator[str]:
    """Yield the memory base URL, checked once, so a down server fails before any LLM work.

    With no memory.url the server runs in this process on a loopback port over the same
    SQLite file `chatcli serve` uses, so nothing has to be started first; its summaries
    load a local model through `models`, the command's, so they share the chat's.
    """
    if settings.memory.url:
        url = settings.memory.url.rstrip("/")
        with MotorheadClient(url, settings.memory.api_key, settings.memory.timeout) as client:
            client.health()
        yield url
        return
    from chatcli.server.embedded import EmbeddedServer

    with EmbeddedServer(settings, models=models) as url:
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


class StoreClient:
    """MotorheadClient's reads and deletes straight on the embedded server's SQLite file.

    `sessions`, `history` and `clear` with the embedded default give exactly what the
    embedded server would answer (same store, same window, same input rules), without
    importing FastAPI and uvicorn to serve three requests: several times faster to start.
    """

    def __init__(self, settings: Settings) -> None:
        from chatcli.server.sqlite_store import SQLiteStore

        assert settings.server.db, "resolve_paths fills server.db"
        self.window = settings.server.window
        self.base_url = f"sqlite:{settings.server.db}"
        self._store = SQLiteStore(settings.server.db)

    def __enter__(self) -> StoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._run(self._store.close())

    def health(self) -> int:
        return int(time.time() * 1000)

    def sessions(self, namespace: str | None = None, page: int = 1, size: int = 10) -> list[str]:
        from chatcli.server import validation

        with self._refusal("GET /sessions"):
            page, size = validation.page_and_size(str(page), str(size))
            namespace = validation.namespace(namespace)
        return self._run(self._store.list_sessions(namespace, (page - 1) * size, size))

    def memory_raw(self, session_id: str) -> dict[str, Any]:
        from chatcli.server import validation

        with self._refusal(f"GET /sessions/{session_id}/memory"):
            validation.session_id(session_id)
        from chatcli.server.store import wire_memory

        return wire_memory(self._run(self._store.get(session_id, self.window)))

    def memory(self, session_id: str) -> SessionMemory:
        return parse_memory(self.memory_raw(session_id))

    def delete(self, session_id: str, namespace: str | None = None) -> None:
        from chatcli.server import validation

        with self._refusal(f"DELETE /sessions/{session_id}/memory"):
            validation.session_id(session_id)
            namespace = validation.namespace(namespace)
        self._run(self._store.delete(session_id, namespace))

    @contextmanager
    def _refusal(self, what: str) -> Iterator[None]:
        """The server's 4xx for bad input, worded as MotorheadClient words it."""
        from chatcli.server.validation import BadInput

        try:
            yield
        except BadInput as exc:
            raise refused_input(f"{exc.status} {exc.message}") from None

    @staticmethod
    def _run(coro: Any) -> Any:
        import asyncio

        return asyncio.run(coro)


@contextmanager
def open_client(env: Environment, settings: Settings) -> Iterator[tuple[MemoryClient, str]]:
    """A client for looking at sessions, and where they live in words for messages.

    With memory.url: MotorheadClient over HTTP. With the embedded default: StoreClient on
    the SQLite file, since nothing but this command needs a server then.
    """
    if settings.memory.url:
        with open_memory(env, settings) as url, client_for(settings, url) as client:
            yield client, describe(settings, url)
        return
    with StoreClient(settings) as store_client:
        yield store_client, describe(settings, "")


MemoryClient = MotorheadClient | StoreClient
