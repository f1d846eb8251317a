"""The MemoryClient over HTTP: a small client of the Motörhead API that starts fast.

Chat and ask (to a configured server or the embedded one) and `sessions`, `history`,
`clear` against a configured server go through it, so every way a memory server can
fail becomes one MemoryServerError line that names the fix. It never imports
LangChain, and it speaks HTTP with the standard library: importing httpx (with
httpcore, trio, click and rich behind it) costs several times what the rest of
`chatcli sessions` does.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import uuid
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from chatcli.errors import (
    ConfigError,
    MemoryServerError,
    NeedsChatcliServer,
    NotFound,
)
from chatcli.memory.protocol import recall_disabled, refused_input
from chatcli.memory.session import (
    Hit,
    Recalled,
    SessionMemory,
    TranscriptMessage,
    TranscriptPage,
    parse_hits,
    parse_memory,
    parse_recalled,
    parse_transcript_message,
    parse_transcript_page,
)

LONG_TERM_DISABLED = "long term memory is disabled"
"""Motörhead's plain-text 400 from /retrieval without long-term memory ("Long term memory
is disabled"), which chatcli's server also words its /search refusal with."""


class MotorheadClient:
    """One kept-alive connection to one memory server; errors are one line for the user."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        where: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = where or f"the memory server at {self.base_url}"
        self.timeout = timeout
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"memory.url {base_url!r} is not an http:// or https:// URL: "
                "set memory.url / --memory-url to the server's address, e.g. http://127.0.0.1:8080"
            )
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        try:
            self._port = parts.port
        except ValueError:
            raise ConfigError(f"memory.url {base_url!r} has an invalid port") from None
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> MotorheadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def health(self) -> int:
        """The server's clock in ms; any answer proves the server is up and takes our key."""
        data = self._request("GET", "/")
        if not isinstance(data, dict) or not isinstance(data.get("now"), int):
            raise self._not_motorhead("GET /")
        return data["now"]

    def sessions(self, namespace: str | None = None, page: int = 1, size: int = 10) -> list[str]:
        params: dict[str, Any] = {"page": page, "size": size}
        if namespace:
            params["namespace"] = namespace
        data = self._request("GET", "/sessions", params=params)
        if not isinstance(data, list) or not all(isinstance(s, str) for s in data):
            raise self._not_motorhead("GET /sessions")
        return data

    def memory_raw(self, session_id: str) -> dict[str, Any]:
        """The server's own JSON for a session (unwrapped), for `history --json`."""
        data = self._request("GET", self._path(session_id))
        if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
            raise self._not_motorhead("GET /sessions/{id}/memory")
        return data

    def memory(self, session_id: str) -> SessionMemory:
        try:
            return parse_memory(self.memory_raw(session_id))
        except ValueError:
            raise self._not_motorhead("GET /sessions/{id}/memory") from None

    def append(
        self,
        session_id: str,
        messages: list[tuple[str, str]],
        *,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Add messages in order; `context` replaces the summary, as in Motörhead.

        A lost connection or a 503 does not prove the messages were not stored (Redis may
        fail after executing the write), so the POST carries a fresh Idempotency-Key and is
        sent once more with the same key: a server that stored it appends nothing again."""
        body: dict[str, Any] = {"messages": [{"role": r, "content": c} for r, c in messages]}
        if context is not None:
            body["context"] = context
        params = {"namespace": namespace} if namespace else None
        self._request(
            "POST",
            self._path(session_id),
            payload=body,
            params=params,
            idempotency_key=uuid.uuid4().hex,
        )

    def delete(self, session_id: str, namespace: str | None = None) -> None:
        params = {"namespace": namespace} if namespace else None
        self._request("DELETE", self._path(session_id), params=params)

    def retrieve(self, session_id: str, text: str) -> list[Recalled]:
        data = self._request("POST", self._session(session_id, "retrieval"), payload={"text": text})
        try:
            return parse_recalled(data)
        except ValueError:
            raise self._not_motorhead("POST /sessions/{id}/retrieval") from None

    def search(self, text: str, session_id: str | None, limit: int) -> list[Hit]:
        payload = {"text": text, "session_id": session_id, "limit": limit}
        data = self._request("POST", "/search", payload=payload)
        try:
            return parse_hits(data)
        except ValueError:
            raise self._not_motorhead("POST /search") from None

    def transcript(
        self, session_id: str, *, after: str | None = None, limit: int = 100
    ) -> TranscriptPage:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        data = self._request("GET", self._session(session_id, "transcript"), params=params)
        try:
            return parse_transcript_page(data)
        except ValueError:
            raise self._not_motorhead("GET /sessions/{id}/transcript") from None

    def forget(self, session_id: str, message_id: str) -> None:
        self._request("DELETE", self._message(session_id, message_id))

    def edit(self, session_id: str, message_id: str, content: str) -> TranscriptMessage:
        data = self._request(
            "PATCH", self._message(session_id, message_id), payload={"content": content}
        )
        try:
            return parse_transcript_message(data)
        except ValueError:
            raise self._not_motorhead("PATCH /sessions/{id}/messages/{id}") from None

    def fork(
        self, session_id: str, to: str, *, at: str | None = None, namespace: str | None = None
    ) -> int:
        params = {"namespace": namespace} if namespace else None
        data = self._request(
            "POST", self._session(session_id, "fork"), payload={"to": to, "at": at}, params=params
        )
        count = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(count, int):
            raise self._not_motorhead("POST /sessions/{id}/fork")
        return count

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
        params = {"namespace": namespace} if namespace else None
        data = self._request(
            "POST", self._session(session_id, "transcript"), payload=body, params=params
        )
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), int) for k in ("added", "skipped")
        ):
            raise self._not_motorhead("POST /sessions/{id}/transcript")
        return data["added"], data["skipped"]

    @staticmethod
    def _path(session_id: str) -> str:
        return f"/sessions/{quote(session_id, safe='')}/memory"

    @staticmethod
    def _session(session_id: str, what: str) -> str:
        return f"/sessions/{quote(session_id, safe='')}/{what}"

    @staticmethod
    def _message(session_id: str, message_id: str) -> str:
        return f"/sessions/{quote(session_id, safe='')}/messages/{quote(message_id, safe='')}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        payload: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """With an `idempotency_key`, the request is safe to repeat, and is repeated once
        (with the same key) when it gets no answer or a 503."""
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        body = None if payload is None else _dumps(payload).encode()
        headers = self._headers
        if idempotency_key is not None:
            headers = {**headers, "Idempotency-Key": idempotency_key}
        attempts = 2 if idempotency_key is not None else 1
        with self._lock:
            for attempt in range(1, attempts + 1):
                last = attempt == attempts
                try:
                    status, raw = self._exchange(method, target, body, headers)
                except _Unanswered:
                    if last:
                        raise self._not_answering() from None
                    continue
                if status != 503 or last:
                    break
        if status in (401, 403):
            raise MemoryServerError(
                f"memory server at {self.base_url} refused the API key: "
                "set memory.api_key or CHATCLI_MEMORY_API_KEY"
            )
        if status == 400 and _long_term_disabled(raw):
            raise recall_disabled(self.where)
        if status in (400, 409, 413):
            # The server names what was wrong with what the user gave (a session id, a
            # namespace, a size, a fork's taken target): a usage error, whatever server
            # (or port) said it.
            raise refused_input(_error_text(status, raw))
        if status in (404, 405):
            found = _chatcli_error(raw)
            if status == 404 and found is not None and not found.startswith("no such route"):
                raise NotFound(found)
            if "/memory" not in path and path != "/sessions" and path != "/":
                raise NeedsChatcliServer(
                    f"memory server at {self.base_url} has no {method} {path.split('?')[0]}: "
                    "the whole transcript, search, forget, edit, fork, export and import need "
                    "chatcli's memory server (`chatcli serve`), not a Motörhead"
                )
        if status >= 400:
            raise MemoryServerError(
                f"memory server at {self.base_url} refused {method} {path}: "
                f"{_error_text(status, raw)}"
            )
        try:
            data = _loads(raw)
        except ValueError:
            raise self._not_motorhead(f"{method} {path}") from None
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        return data

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request on the kept-alive connection, or on a new one if the server closed it.

        A server closes idle connections (uvicorn after 5 s, so between most REPL turns);
        only when a reused connection fails before any answer is the request sent again.
        """
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.request(method, target, body=body, headers=headers)
                response = self._conn.getresponse()
                raw = response.read()
            except TimeoutError:
                self._drop()
                raise MemoryServerError(
                    f"memory server at {self.base_url} did not answer within {self.timeout:g}s: "
                    "check that it is healthy, or raise memory.timeout"
                ) from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                if reused and attempt == 1:
                    continue
                raise _Unanswered from None
            except ssl.SSLError as exc:
                self._drop()
                raise MemoryServerError(
                    f"memory server at {self.base_url} failed the TLS handshake "
                    f"({exc.reason or exc}): check the URL and the server's certificate"
                ) from None
            except (OSError, http.client.HTTPException):
                self._drop()
                raise _Unanswered from None
            if response.will_close:
                self._drop()
            return response.status, raw
        raise _Unanswered

    def _connect(self) -> http.client.HTTPConnection:
        """http.client writes a POST's headers and body separately; without TCP_NODELAY the
        body can wait for a delayed ACK (40 ms on Linux) on every memory write."""
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _not_answering(self) -> MemoryServerError:
        return MemoryServerError(
            f"memory server at {self.base_url} is not answering: start it with "
            "`chatcli serve`, or unset memory.url to use the embedded one"
        )

    def _not_motorhead(self, what: str) -> MemoryServerError:
        return MemoryServerError(
            f"memory server at {self.base_url} gave an unexpected answer to {what}: "
            "is memory.url a Motörhead-compatible server?"
        )


class _Unanswered(Exception):
    """The connection failed before any answer came back."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _loads(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"))


def _chatcli_error(raw: bytes) -> str | None:
    """The `{"error": ...}` text chatcli's server answers with, or None for anything else."""
    try:
        data = _loads(raw)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


def _long_term_disabled(raw: bytes) -> bool:
    """Motörhead's plain text, or chatcli's `{"error"}` worded the same (either hyphenation)."""
    text = _chatcli_error(raw) or raw.decode("utf-8", "replace")
    return text.strip().lower().replace("-", " ").startswith(LONG_TERM_DISABLED)


def _error_text(status: int, raw: bytes) -> str:
    """The server's own reason, in one line: chatcli's {"error"}, FastAPI's {"detail"} or text."""
    try:
        data = _loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace")
    else:
        if isinstance(data, dict):
            detail = data.get("error", data.get("detail", data))
            if isinstance(detail, dict) and isinstance(detail.get("message"), str):
                detail = detail["message"]
            text = detail if isinstance(detail, str) else _dumps(detail)
        else:
            text = str(data)
    text = " ".join(text.split())[:300]
    return f"{status} {text}" if text else f"HTTP {status}"
