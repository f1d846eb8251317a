"""A small httpx client of the Motörhead API, for commands that must start fast.

`sessions`, `history`, `clear`, health checks and chatcli's memory class all go
through it, so every way a memory server can fail becomes one MemoryServerError
line that names the fix. It never imports LangChain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from chatcli.errors import MemoryServerError
from chatcli.prompt import has_summary


@dataclass
class SessionMemory:
    """A session as the server holds it; `messages` oldest first, unlike the wire."""

    messages: list[tuple[str, str]]
    context: str | None
    tokens: int

    @property
    def summary(self) -> str | None:
        """The summary, if the server has a real one (Motörhead's summarizer may store 'NONE')."""
        return self.context if has_summary(self.context) else None

    @property
    def is_empty(self) -> bool:
        return not self.messages and self.summary is None


class MotorheadClient:
    """One connection pool to one memory server; errors are one line for the user."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        # Loading the CA bundle costs ~150 ms; a plain-http server (the usual loopback one)
        # never uses it, so only https URLs pay for verification.
        verify = self.base_url.startswith("https:")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=verify
        )

    def __enter__(self) -> MotorheadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

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
        """Add messages in order; `context` replaces the summary, as in Motörhead."""
        body: dict[str, Any] = {"messages": [{"role": r, "content": c} for r, c in messages]}
        if context is not None:
            body["context"] = context
        params = {"namespace": namespace} if namespace else None
        self._request("POST", self._path(session_id), json=body, params=params)

    def delete(self, session_id: str, namespace: str | None = None) -> None:
        params = {"namespace": namespace} if namespace else None
        self._request("DELETE", self._path(session_id), params=params)

    @staticmethod
    def _path(session_id: str) -> str:
        return f"/sessions/{quote(session_id, safe='')}/memory"

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise MemoryServerError(
                f"memory server at {self.base_url} did not answer within {self.timeout:g}s: "
                "check that it is healthy, or raise memory.timeout"
            ) from None
        except httpx.HTTPError:
            raise MemoryServerError(
                f"memory server at {self.base_url} is not answering: start it with "
                "`chatcli serve`, or unset memory.url to use the embedded one"
            ) from None
        if response.status_code in (401, 403):
            raise MemoryServerError(
                f"memory server at {self.base_url} refused the API key: "
                "set memory.api_key or CHATCLI_MEMORY_API_KEY"
            )
        if response.status_code >= 400:
            raise MemoryServerError(
                f"memory server at {self.base_url} refused {method} {path}: {_error_text(response)}"
            )
        try:
            data = response.json()
        except ValueError:
            raise self._not_motorhead(f"{method} {path}") from None
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        return data

    def _not_motorhead(self, what: str) -> MemoryServerError:
        return MemoryServerError(
            f"memory server at {self.base_url} gave an unexpected answer to {what}: "
            "is memory.url a Motörhead-compatible server?"
        )


def parse_memory(data: dict[str, Any]) -> SessionMemory:
    """Wire messages (newest first) made chronological; ValueError if not Motörhead's shape."""
    messages: list[tuple[str, str]] = []
    for item in reversed(data.get("messages") or []):
        if not isinstance(item, dict):
            raise ValueError("message is not an object")
        messages.append((str(item.get("role", "")), str(item.get("content", ""))))
    context = data.get("context")
    tokens = data.get("tokens") or 0
    return SessionMemory(
        messages=messages,
        context=context if isinstance(context, str) else None,
        tokens=tokens if isinstance(tokens, int) else 0,
    )


def _error_text(response: httpx.Response) -> str:
    """The server's own reason, in one line: chatcli's {"error"}, FastAPI's {"detail"} or text."""
    text = ""
    try:
        data = response.json()
    except ValueError:
        text = response.text
    else:
        if isinstance(data, dict):
            detail = data.get("error", data.get("detail", data))
            if isinstance(detail, dict) and isinstance(detail.get("message"), str):
                detail = detail["message"]
            text = detail if isinstance(detail, str) else json.dumps(detail)
        else:
            text = str(data)
    text = " ".join(text.split())[:300]
    return f"{response.status_code} {text}".strip() if text else f"HTTP {response.status_code}"
