"""The MemoryClient straight on the embedded server's SQLite file, without a server.

`sessions`, `history` and `clear` with the embedded default give exactly what the
embedded server would answer, because they call the same MemoryService the routes call
(same store, window and input rules), without importing FastAPI and uvicorn to serve
three requests: several times faster to start. No compactor runs here: a session this
client writes past its window is summarized by the next server that starts on the file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chatcli.config import Settings
from chatcli.errors import MemoryServerError, NotFound
from chatcli.memory.protocol import refused_input
from chatcli.memory.session import (
    SessionMemory,
    TranscriptMessage,
    TranscriptPage,
    parse_memory,
    parse_transcript_message,
    parse_transcript_page,
)
from chatcli.recall.errors import EmbedderError
from chatcli.server.embedding import EmbedderHandle
from chatcli.server.errors import BadInput, RecallDisabled, StoreUnavailable
from chatcli.server.service import MemoryService, now_ms

T = TypeVar("T")


class DirectClient:
    """Every call runs on one event loop, kept for the client's life, as the store's
    executor and connections expect; the server's errors become the CLI's here."""

    def __init__(self, settings: Settings) -> None:
        from chatcli.server.sqlite_store import SQLiteStore

        assert settings.server.db, "resolve_paths fills server.db"
        self.where = f"the embedded memory at {settings.server.db}"
        with _as_cli_errors():
            store = SQLiteStore(settings.server.db)
        embedder = (
            EmbedderHandle.from_settings(settings) if settings.server.long_term_memory else None
        )
        self._service = MemoryService(store, settings.server, embedder=embedder)
        self._runner: asyncio.Runner | None = asyncio.Runner()

    def __enter__(self) -> DirectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            with _as_cli_errors():
                runner.run(self._service.store.close())
        finally:
            runner.close()

    def health(self) -> int:
        return now_ms()

    def sessions(self, namespace: str | None = None, page: int = 1, size: int = 10) -> list[str]:
        return self._run(self._service.sessions(str(page), str(size), namespace))

    def memory_raw(self, session_id: str) -> dict[str, Any]:
        return self._run(self._service.memory(session_id))

    def memory(self, session_id: str) -> SessionMemory:
        return parse_memory(self.memory_raw(session_id))

    def append(
        self,
        session_id: str,
        messages: list[tuple[str, str]],
        *,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"messages": [{"role": r, "content": c} for r, c in messages]}
        if context is not None:
            body["context"] = context
        raw = json.dumps(body, ensure_ascii=False).encode()
        self._run(self._service.append(session_id, namespace, raw))

    def delete(self, session_id: str, namespace: str | None = None) -> None:
        self._run(self._service.delete(session_id, namespace))

    def transcript(
        self, session_id: str, *, after: str | None = None, limit: int = 100
    ) -> TranscriptPage:
        return parse_transcript_page(
            self._run(self._service.transcript(session_id, after, str(limit)))
        )

    def forget(self, session_id: str, message_id: str) -> None:
        self._run(self._service.forget(session_id, message_id))

    def edit(self, session_id: str, message_id: str, content: str) -> TranscriptMessage:
        raw = json.dumps({"content": content}, ensure_ascii=False).encode()
        return parse_transcript_message(self._run(self._service.edit(session_id, message_id, raw)))

    def fork(
        self, session_id: str, to: str, *, at: str | None = None, namespace: str | None = None
    ) -> int:
        raw = json.dumps({"to": to, "at": at}, ensure_ascii=False).encode()
        return self._run(self._service.fork(session_id, namespace, raw))["messages"]

    def import_messages(
        self,
        session_id: str,
        messages: list[TranscriptMessage],
        *,
        context: str | None = None,
        tokens: int | None = None,
        namespace: str | None = None,
    ) -> tuple[int, int]:
        body = {"messages": [m.wire() for m in messages], "context": context, "tokens": tokens}
        raw = json.dumps(body, ensure_ascii=False).encode()
        done = self._run(self._service.import_messages(session_id, namespace, raw))
        return done["added"], done["skipped"]

    def retrieval_raw(self, session_id: str, text: str) -> list[dict[str, Any]]:
        """Motörhead's /retrieval answer: [{"role", "content", "dist"}], nearest first."""
        raw = json.dumps({"text": text}, ensure_ascii=False).encode()
        return self._run(self._service.retrieval(session_id, raw))

    def search_raw(
        self, text: str, *, session_id: str | None = None, limit: int = 10
    ) -> dict[str, Any]:
        """chatcli's /search answer: {"results": [{"session_id", "id", "role", "content",
        "time", "dist"}]}, nearest first; every session when `session_id` is None."""
        body = {"text": text, "session_id": session_id, "limit": limit}
        raw = json.dumps(body, ensure_ascii=False).encode()
        return self._run(self._service.search(raw))

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            call.close()
            raise MemoryServerError(f"{self.where} is closed")
        with _as_cli_errors():
            return self._runner.run(call)


@contextmanager
def _as_cli_errors() -> Iterator[None]:
    """Refused input worded as MotorheadClient words a 4xx; a store failure as the
    one-line MemoryServerError every other memory failure is."""
    try:
        yield
    except BadInput as exc:
        if exc.status == 404:
            raise NotFound(exc.message) from None
        raise refused_input(f"{exc.status} {exc.message}") from None
    except StoreUnavailable as exc:
        raise MemoryServerError(exc.message) from None
    except RecallDisabled:
        raise refused_input("long-term memory is off (server.long_term_memory = false)") from None
    except EmbedderError as exc:
        raise MemoryServerError(exc.message) from None
