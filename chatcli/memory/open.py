"""Opening the memory a command is configured for: the one choice of transport.

With memory.url: a MotorheadClient of that server. Without it, the embedded memory:
chat and ask get a server in this process over the SQLite file `chatcli serve` uses
(its compactor summarizes as they write), while sessions, history and clear read the
file directly (DirectClient), since nothing but them needs a server then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chatcli.config import Settings
from chatcli.memory.http import MotorheadClient
from chatcli.memory.protocol import MemoryClient

if TYPE_CHECKING:
    from chatcli.local_models import LocalModels


@contextmanager
def open_memory(settings: Settings, models: LocalModels | None = None) -> Iterator[MemoryClient]:
    """The one client a chat or an ask uses for everything (health check, LangChain
    memory, the REPL's reads); a configured server is checked once, so a down server
    fails before any LLM work. The embedded server's summaries load a local model through
    `models`, the command's, so they share the chat's."""
    if settings.memory.url:
        with _configured(settings) as client:
            client.health()
            yield client
        return
    from chatcli.server.embedded import EmbeddedServer

    with EmbeddedServer(settings, models=models) as url:
        key = settings.memory.api_key or settings.server.api_key
        where = f"the embedded memory at {settings.server.db}"
        with MotorheadClient(url, key, settings.memory.timeout, where=where) as client:
            yield client


@contextmanager
def open_client(settings: Settings) -> Iterator[MemoryClient]:
    """A client for looking at sessions: the configured server, or the embedded file."""
    if settings.memory.url:
        with open_memory(settings) as client:
            yield client
        return
    from chatcli.memory.direct import DirectClient

    with DirectClient(settings) as client:
        yield client


def _configured(settings: Settings) -> MotorheadClient:
    """Only memory.api_key goes to a configured URL: server.api_key is sent only to the
    embedded server, so a key meant for the user's own `chatcli serve` does not leak."""
    assert settings.memory.url
    return MotorheadClient(settings.memory.url, settings.memory.api_key, settings.memory.timeout)
