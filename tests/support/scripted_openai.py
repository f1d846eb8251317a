"""A real OpenAI-compatible HTTP server on loopback whose answers a test scripts.

It speaks /v1/completions and /v1/chat/completions, streaming (SSE) and not, and
/v1/embeddings (`scripted_embedding`: the same text always gets the same vector, and texts
that share words share dimensions), and records every request, so tests can assert on the
exact prompt a client sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackHTTP

Responder = Callable[[str], str]
"""Given the prompt text (completions) or the last user message (chat), the answer."""

EMBEDDING_DIM = 16


def scripted_embedding(text: str) -> list[float]:
    """A bag of hashed words: deterministic, and not of unit length, as a real service's
    vectors need not be."""
    vector = [0.0] * EMBEDDING_DIM
    for word in text.lower().split():
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % EMBEDDING_DIM] += 1.0 + digest[1] / 255
    return vector


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def prompt(self) -> str:
        if "input" in self.body:
            texts = self.body["input"]
            return texts[0] if isinstance(texts, list) else texts
        if "prompt" in self.body:
            prompt = self.body["prompt"]
            return prompt[0] if isinstance(prompt, list) else prompt
        return self.body["messages"][-1]["content"]


@dataclass
class ScriptedOpenAI:
    """Answers from `script` in order, then from `responder`; `delay` seconds before each answer."""

    script: list[str] = field(default_factory=list)
    responder: Responder | None = None
    delay: float = 0.0
    token_delay: float = 0.0
    fail_next: int = 0
    """Answer this many requests with 500 before succeeding again (tests retries)."""
    embed_per_token: bool = False
    """Answer /v1/embeddings with a vector per word, as llama-cpp-python's server does for a
    model without pooling."""
    api_key: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _http: LoopbackHTTP | None = None

    @property
    def base_url(self) -> str:
        assert self._http is not None
        return f"{self._http.origin}/v1"

    def start(self) -> ScriptedOpenAI:
        self._http = LoopbackHTTP(_make_handler(self))
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.responder = None
            self.delay = 0.0
            self.token_delay = 0.0
            self.fail_next = 0
            self.embed_per_token = False

    def _answer(self, prompt: str) -> str | None:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return None
            if self.script:
                return self.script.pop(0)
        if self.responder is not None:
            return self.responder(prompt)
        return "OK"


def _make_handler(owner: ScriptedOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each small answer waits out a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if owner.api_key and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
                self._json(401, {"error": {"message": "Incorrect API key provided"}})
                return
            if self.path.endswith("/embeddings"):
                self._embeddings(body)
                return
            chat = self.path.endswith("/chat/completions")
            if not chat and not self.path.endswith("/completions"):
                self._json(404, {"error": {"message": "not found"}})
                return
            record = Recorded(self.path, body, dict(self.headers))
            with owner._lock:
                owner.requests.append(record)
            if owner.delay:
                time.sleep(owner.delay)
            answer = owner._answer(record.prompt)
            if answer is None:
                self._json(500, {"error": {"message": "scripted failure"}})
                return
            usage = {
                "prompt_tokens": len(record.prompt.split()),
                "completion_tokens": len(answer.split()),
                "total_tokens": len(record.prompt.split()) + len(answer.split()),
            }
            if body.get("stream"):
                self._stream(chat, answer, body.get("model", "scripted"), usage)
            elif chat:
                self._json(200, _chat_body(answer, body.get("model", "scripted"), usage))
            else:
                self._json(200, _completion_body(answer, body.get("model", "scripted"), usage))

        def _embeddings(self, body: dict[str, Any]) -> None:
            """Rows in reverse order, each with its `index`: the API promises the index, not
            the order, and a client must put them back."""
            record = Recorded(self.path, body, dict(self.headers))
            with owner._lock:
                owner.requests.append(record)
                failing = owner.fail_next > 0
                owner.fail_next -= failing
            if failing:
                self._json(500, {"error": {"message": "scripted failure"}})
                return
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
                self._json(400, {"error": {"message": "input must be non-empty strings"}})
                return
            rows = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [scripted_embedding(word) for word in text.split()]
                    if owner.embed_per_token
                    else scripted_embedding(text),
                }
                for i, text in enumerate(texts)
            ]
            self._json(
                200,
                {
                    "object": "list",
                    "data": rows[::-1],
                    "model": body.get("model", "scripted"),
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                },
            )

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, chat: bool, answer: str, model: str, usage: dict[str, int]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = _pieces(answer)
            try:
                for index, piece in enumerate(pieces):
                    last = index == len(pieces) - 1
                    if chat:
                        chunk = {
                            "id": "chatcmpl-scripted",
                            "object": "chat.completion.chunk",
                            "created": int(time.time()),
                            "model": model,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"role": "assistant", "content": piece},
                                    "finish_reason": "stop" if last else None,
                                }
                            ],
                        }
                    else:
                        chunk = {
                            "id": "cmpl-scripted",
                            "object": "text_completion",
                            "created": int(time.time()),
                            "model": model,
                            "choices": [
                                {
                                    "index": 0,
                                    "text": piece,
                                    "logprobs": None,
                                    "finish_reason": "stop" if last else None,
                                }
                            ],
                        }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if owner.token_delay:
                        time.sleep(owner.token_delay)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    return Handler


def _pieces(answer: str) -> list[str]:
    """Word-sized pieces that concatenate back to the answer exactly."""
    if not answer:
        return [""]
    pieces, current = [], ""
    for char in answer:
        current += char
        if char == " " and current.strip():
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _chat_body(answer: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def _completion_body(answer: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "cmpl-scripted",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": answer, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage,
    }
