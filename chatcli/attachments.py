"""Files given to `ask -f`: read before anything slow, and put into the question.

The question comes first, then each file under a `--- NAME ---` line (the name as the
user typed it), so the model sees which text came from where and the prompt stays the
seed's plain Human/AI text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chatcli.errors import UsageError


def read_text_file(path: Path) -> str:
    """The file's text; a missing, unreadable or binary file is a usage error naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"-f {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"-f {path}: is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"-f {path}: cannot read it: {exc.strerror}") from None
    if b"\0" in data:
        raise UsageError(f"-f {path}: is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"-f {path}: is not UTF-8 text") from None


def with_files(question: str, files: Sequence[tuple[str, str]]) -> str:
    """The question followed by each (name, text) under its own `--- name ---` line."""
    parts = [question] if question else []
    for name, text in files:
        parts.append(f"--- {name} ---\n{text.strip()}")
    return "\n\n".join(parts)


def read_files(paths: Sequence[Path]) -> list[tuple[str, str]]:
    return [(str(path), read_text_file(path)) for path in paths]
