"""A session as a command sees it, whichever transport fetched it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
