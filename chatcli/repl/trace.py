"""LangChain's trace on stderr, kept from overwriting the answer being shown on stdout."""

from __future__ import annotations

import io
from typing import IO, Protocol

from chatcli.answers import Answer


class ShowsAnswers(Protocol):
    """What the trace needs of the REPL: the answer on screen now, if any."""

    @property
    def answer(self) -> Answer | None: ...


class TraceStream(io.TextIOBase):
    """LangChain's trace on stderr, written only after the answer on screen is settled."""

    def __init__(self, stream: IO[str], chat: ShowsAnswers | None = None) -> None:
        super().__init__()
        self._stream = stream
        self.chat = chat

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.chat is not None and self.chat.answer is not None:
            self.chat.answer.settle()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (AttributeError, ValueError):
            return False
