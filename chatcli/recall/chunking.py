"""Long messages as several short texts to embed, so a fact said in passing is not diluted.

A dense model gives one vector per text, the mean of its tokens: a sentence about the wifi
password inside a paragraph about a bad day is a small part of that mean, and a question about
the password is far from it (bench/recall.py measures how far). Embedding each stretch of a few
sentences separately, and ranking a message by its best stretch, finds it again. Short
messages (most chat turns) are one chunk, so they cost nothing extra."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from chatcli.recall.ranking import indexed_text

Id = TypeVar("Id", bound=Hashable)

MAX_WORDS = 40
"""A chunk's size: about two sentences of chat, well under MiniLM's 256 word pieces."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def chunks(role: str, content: str, max_words: int = MAX_WORDS) -> list[str]:
    """The texts to embed for one message, each "Role: ..." like the message's own indexed
    text: the message whole when it has at most `max_words` words, else consecutive whole
    sentences of at most `max_words` words each (a longer sentence is cut at word bounds)."""
    if len(content.split()) <= max_words:
        return [indexed_text(role, content)]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in sentences(content):
        words = sentence.split()
        while len(words) > max_words:
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if current and len(current) + len(words) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return [indexed_text(role, piece) for piece in pieces]


def first_of_each(ranking: Iterable[Id]) -> list[Id]:
    """A ranking of chunks (by their message's id) as a ranking of messages: each message at
    the place of its best chunk."""
    seen: dict[Id, None] = {}
    for item in ranking:
        seen.setdefault(item, None)
    return list(seen)


def owners(chunked: Sequence[Sequence[str]], ids: Sequence[Id]) -> list[Id]:
    """The message id of every chunk, in the order the chunks are laid out flat."""
    return [ids[i] for i, parts in enumerate(chunked) for _ in parts]
