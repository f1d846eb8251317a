"""An HTTP proxy on loopback that loses the answer to the first POSTs: it forwards each
request to the real server, then, for the first `lose` POSTs, drops the server's answer
and sends a 503 or closes the connection instead. That is what a client sees when Redis
executes a write and then times out or closes: the message is stored, the answer says not."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import urlsplit

from tests.support.loopback import LoopbackHTTP

Loss = Literal["503", "close"]


class LossyProxy:
    def __init__(self, upstream: str, lose: int = 1, how: Loss = "503") -> None:
        self.upstream = urlsplit(upstream)
        self.lose = lose
        self.how = how
        self.forwarded_posts = 0
        self.keys: list[str | None] = []
        self._lock = threading.Lock()
        self._http = LoopbackHTTP(self._handler())

    @property
    def url(self) -> str:
        return self._http.origin

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> LossyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _lost(self, method: str) -> bool:
        """Whether this request's answer is the one to lose (counted once forwarded)."""
        if method != "POST":
            return False
        with self._lock:
            self.forwarded_posts += 1
            return self.forwarded_posts <= self.lose

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                if self.command == "POST":
                    proxy.keys.append(self.headers.get("Idempotency-Key"))
                status, answer_headers, answer = proxy._forward(
                    self.command, self.path, headers, body
                )
                if proxy._lost(self.command):
                    if proxy.how == "close":
                        self.close_connection = True
                        return
                    status, answer = 503, json.dumps({"error": "lost"}).encode()
                    answer_headers = [("Content-Type", "application/json")]
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in ("content-length", "connection", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_DELETE = _relay

        return Handler
