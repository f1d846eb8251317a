"""Limits on what a client can make the server hold before the app (and its API key check)
ever sees a request, and JSON for every answer the HTTP layer gives on its own.

uvicorn's httptools protocol buffers a request line and headers without bound and waits
for them forever, so one unauthenticated client could hold memory and sockets; and it
answers malformed framing with a plain-text 400. `protocol_class(limits)` is that
protocol with:

- a cap on the request line and headers (`max_header_bytes`): 431 once passed, counted
  on the raw bytes while a head is incomplete, so a header that never ends is refused too
  (it can overrun by at most one socket read);
- a deadline for a complete head (`header_timeout`), from the connection's start or a
  request's first byte: 408, or a silent close if nothing was sent;
- a cap on open connections (`max_connections`): 503 and close for the ones over it;
- `{"error": "..."}` for malformed HTTP, instead of uvicorn's plain text;
- and, not a limit but the same protocol: a response's head goes out in one write with its
  first body bytes (uvicorn writes them apart, two send() calls where one does; profiled,
  each was a tenth of a GET's cost).

`chatcli serve` and the embedded server both pass `uvicorn_options(limits)` to uvicorn.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from chatcli.config import ServerSettings


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
        )


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` that put `limits` in force."""
    return {"http": protocol_class(limits)}


def protocol_class(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn builds its protocol from a class with a fixed signature: bind the limits here."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete `{"error": ...}` response that closes the connection."""
    body = json.dumps({"error": message}).encode()
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head.extend([name, b": ", value, b"\r\n"])
    head.extend(
        [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
    )
    return b"".join(head) + body


class HeadWithBody:
    """The transport one response writes through: its head (the first write that is not
    a `100 Continue`) is held and sent with the next write, or before a close."""

    __slots__ = ("_head", "_started", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started and not data.startswith(b"HTTP/1.1 100 "):
            self._started = True
            self._head = data
            return
        head, self._head = self._head, None
        self.transport.write(data if head is None else head + data)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self.transport.is_closing():
            self.transport.write(head)
        self.transport.close()


class Refused(Exception):
    """Raised from a parser callback to stop parsing; the answer is in the protocol."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: HttpLimits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True
        self._raw_head_bytes = 0
        self._parsed_head_bytes = 0
        self._received_any = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("refused a connection: %d open", len(self.connections) - 1)
            self._refuse(
                503,
                f"the server has its maximum of {self.limits.max_connections} connections open "
                "(server.max_connections): retry later",
            )
            return
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self._received_any = True
        if self._awaiting_head:
            self._raw_head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if self._refusal is None:
                self.logger.warning("Invalid HTTP request received: %s", exc)
                self._refusal = (400, f"malformed HTTP request: {exc}")
            self._refuse(*self._refusal)
            return
        if self._awaiting_head and self._raw_head_bytes > self.limits.max_header_bytes:
            self._refuse(431, self._too_large())

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head_bytes = 0
        if self._head_timer is None:
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._stop_head_timer()
        super().on_headers_complete()
        # A HEAD answer writes no body after its head, so it keeps the plain transport.
        if self.cycle is not None and self.scope["method"] != "HEAD":
            self.cycle.transport = HeadWithBody(self.transport)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        self._raw_head_bytes = 0
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > self.limits.max_header_bytes:
            self._refusal = (431, self._too_large())
            raise Refused

    def _too_large(self) -> str:
        return (
            "the request line and headers are larger than the server's limit of "
            f"{self.limits.max_header_bytes} bytes (server.max_header_bytes)"
        )

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._received_any or (self.cycle is not None and not self.cycle.response_complete):
            self.transport.close()
            return
        self._refuse(
            408,
            f"the request headers did not arrive within {self.limits.header_timeout:g} s "
            "(server.header_timeout)",
        )

    def _refuse(self, status: int, message: str) -> None:
        """Answer on the connection and close it; nothing of this request reaches the app."""
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(error_response(status, message, self.server_state.default_headers))
            self.transport.close()
