"""A memory server with only Motörhead's behaviour, to prove the CLI needs nothing more.

No API keys, no validation, no chatcli extensions: GET returns up to window+1 messages
newest first (Motörhead's LRANGE 0 window), POST answers {"status": "Ok"}, unknown
sessions are empty rather than 404, the sessions index is ordered by last write.
Summarization is left out (Motörhead needs OpenAI for it); a POSTed "context" is stored.
Long-term memory is off by default, as in Motörhead (`400 Long term memory is disabled`);
with `long_term`, /retrieval ranks every message the session was sent (not only the
list's window) by the words it shares with the text, as a stand-in for its vectors.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback import LoopbackHTTP


@dataclass
class MotorheadLike:
    window: int = 12
    managed: bool = False
    """Wrap JSON answers in {"data": ...} as Metal's managed Motörhead did."""
    drop_idle: bool = False
    """Close each connection after answering, without saying so, as a server whose
    keep-alive timeout has passed does between two requests of a client."""
    long_term: bool = False
    """MOTORHEAD_LONG_TERM_MEMORY: /retrieval answers instead of refusing."""
    sessions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """Each session's messages, newest first, as Motörhead's Redis list."""
    everything: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """Every message each session was sent, as Motörhead's long-term hashes keep them."""
    contexts: dict[str, str] = field(default_factory=dict)
    index: dict[str | None, dict[str, float]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _http: LoopbackHTTP | None = None

    @property
    def url(self) -> str:
        assert self._http is not None
        return self._http.origin

    def start(self) -> MotorheadLike:
        self._http = LoopbackHTTP(_handler(self))
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()

    def reset(self) -> None:
        with self._lock:
            self.sessions.clear()
            self.everything.clear()
            self.contexts.clear()
            self.index.clear()
            self.requests.clear()
            self.managed = False
            self.drop_idle = False
            self.window = 12
            self.long_term = False

    def get_sessions(self, query: dict[str, str]) -> tuple[int, Any]:
        page = int(query.get("page", 1))
        size = int(query.get("size", 10))
        if page > 100:
            return 400, "page must be <= 100"
        with self._lock:
            scored = self.index.get(query.get("namespace"), {})
            ordered = sorted(scored, key=lambda s: scored[s])
        start = (page - 1) * size
        return 200, ordered[start : start + size]

    def get_memory(self, session_id: str) -> tuple[int, Any]:
        with self._lock:
            messages = list(self.sessions.get(session_id, [])[: self.window + 1])
            context = self.contexts.get(session_id)
        return 200, {"messages": messages, "context": context, "tokens": 0}

    def post_memory(self, session_id: str, body: dict, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            stored = self.sessions.setdefault(session_id, [])
            kept = self.everything.setdefault(session_id, [])
            for message in body.get("messages", []):
                stored.insert(0, {"role": message["role"], "content": message["content"]})
                kept.append({"role": message["role"], "content": message["content"]})
            if body.get("context") is not None:
                self.contexts[session_id] = body["context"]
            self.index.setdefault(query.get("namespace"), {})[session_id] = time.time()
        return 200, {"status": "Ok"}

    def retrieval(self, session_id: str, body: dict) -> tuple[int, Any]:
        if not self.long_term:
            return 400, "Long term memory is disabled"
        words = set(str(body.get("text", "")).lower().split())
        with self._lock:
            kept = list(self.everything.get(session_id, []))
        scored = [(len(words & set(m["content"].lower().split())), m) for m in kept]
        ranked = sorted((s for s in scored if s[0]), key=lambda s: -s[0])[:10]
        return 200, [{**m, "dist": 1.0 / (1 + shared)} for shared, m in ranked]

    def delete_memory(self, session_id: str, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.sessions.pop(session_id, None)
            self.everything.pop(session_id, None)
            self.contexts.pop(session_id, None)
            self.index.get(query.get("namespace"), {}).pop(session_id, None)
        return 200, {"status": "Ok"}


def _handler(owner: MotorheadLike) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            segments = [unquote(s) for s in parts.path.strip("/").split("/")]
            with owner._lock:
                owner.requests.append((method, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if parts.path == "/" and method == "GET":
                self._send(200, {"now": int(time.time() * 1000)})
            elif parts.path == "/sessions" and method == "GET":
                self._send(*owner.get_sessions(query))
            elif segments[0] == "sessions" and segments[2:] == ["retrieval"] and method == "POST":
                self._send(*owner.retrieval(segments[1], json.loads(raw or b"{}")))
            elif len(segments) == 3 and segments[0] == "sessions" and segments[2] == "memory":
                session_id = segments[1]
                if method == "GET":
                    self._send(*owner.get_memory(session_id))
                elif method == "POST":
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError as exc:
                        self._send(400, f"Json deserialize error: {exc}")
                        return
                    self._send(*owner.post_memory(session_id, body, query))
                else:
                    self._send(*owner.delete_memory(session_id, query))
            else:
                self._send(404, "")

        def _send(self, status: int, payload: Any) -> None:
            if isinstance(payload, str):
                data, kind = payload.encode(), "text/plain; charset=utf-8"
            else:
                if owner.managed and status == 200:
                    payload = {"data": payload}
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if owner.drop_idle:
                self.close_connection = True

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler
