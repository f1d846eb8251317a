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


@dataclass(frozen=True)
class TranscriptMessage:
    """One message of the whole record, as chatcli's server keeps it."""

    id: str
    role: str
    content: str
    created_at: int
    """Unix time in milliseconds."""
    summarized: bool
    """It left the window: the summary covers it."""

    def wire(self) -> dict[str, Any]:
        """As the transcript routes (and export files) write it."""
        return {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "created_at": self.created_at,
            "summarized": self.summarized,
        }


@dataclass(frozen=True)
class TranscriptPage:
    messages: list[TranscriptMessage]
    """Oldest first."""
    next: str | None
    """Pass as `after` for the next page; None at the end."""
    namespace: str | None
    """The namespace the session was last posted with."""


def parse_transcript_message(item: Any) -> TranscriptMessage:
    """ValueError if not the transcript routes' shape."""
    if not isinstance(item, dict):
        raise ValueError("message is not an object")
    try:
        return TranscriptMessage(
            id=_text(item["id"]),
            role=_text(item["role"]),
            content=_text(item["content"]),
            created_at=_whole(item["created_at"]),
            summarized=bool(item.get("summarized", False)),
        )
    except KeyError as missing:
        raise ValueError(f"message has no {missing}") from None


def parse_transcript_page(data: Any) -> TranscriptPage:
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ValueError("not a transcript page")
    following = data.get("next")
    namespace = data.get("namespace")
    return TranscriptPage(
        messages=[parse_transcript_message(item) for item in data["messages"]],
        next=following if isinstance(following, str) else None,
        namespace=namespace if isinstance(namespace, str) else None,
    )


@dataclass(frozen=True)
class Recalled:
    """One message Motörhead's /retrieval found: no id or time, as its wire has none."""

    role: str
    content: str
    dist: float
    """Smaller is nearer, as in Motörhead."""


@dataclass(frozen=True)
class Hit:
    """One message chatcli's /search found, with what a user needs to act on it: the
    session and message ids take `forget` and `fork --at`."""

    session_id: str
    id: str
    role: str
    content: str
    time: int
    """When the message was written, Unix time in milliseconds."""
    dist: float
    """Smaller is nearer."""

    def wire(self) -> dict[str, Any]:
        """As /search and `chatcli search --json` write it."""
        return {
            "session_id": self.session_id,
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "time": self.time,
            "dist": self.dist,
        }


def parse_recalled(data: Any) -> list[Recalled]:
    """/retrieval's answer, nearest first; ValueError if not Motörhead's shape."""
    if not isinstance(data, list):
        raise ValueError("not a list")
    found = []
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("result is not an object")
        found.append(
            Recalled(
                role=_text(item.get("role")),
                content=_text(item.get("content")),
                dist=_number(item.get("dist")),
            )
        )
    return found


def parse_hits(data: Any) -> list[Hit]:
    """/search's answer, nearest first; ValueError if not its shape."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ValueError("no results list")
    hits = []
    for item in results:
        if not isinstance(item, dict):
            raise ValueError("result is not an object")
        try:
            hits.append(
                Hit(
                    session_id=_text(item["session_id"]),
                    id=_text(item["id"]),
                    role=_text(item["role"]),
                    content=_text(item["content"]),
                    time=_whole(item["time"]),
                    dist=_number(item["dist"]),
                )
            )
        except KeyError as missing:
            raise ValueError(f"result has no {missing}") from None
    return hits


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value
