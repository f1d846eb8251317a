"""`export` and `import`: a user's sessions in one portable JSON Lines file, and back.

The format (documented in the README) is a header line per session, then its messages
oldest first. Lines are written with their keys in one fixed order and
`ensure_ascii=False`, so exporting the same memory twice, or from SQLite and then from
Redis after an import, gives the same bytes. The writing and parsing of lines are
plain functions; the two commands at the bottom are the I/O around them. An import
validates the whole file (the format's rules here, the server's own import rules from
chatcli.server.validation) before its first write, so a bad file imports nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import SessionNotFound, UsageError
from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import TranscriptMessage

FORMAT = "chatcli-export"
VERSION = 1
FORMATS = ("jsonl", "markdown")
BATCH_MESSAGES = 1000
"""Messages a call to import_messages; half the server's max_messages_per_post."""
BATCH_BYTES = 2 * 1024 * 1024
"""Content bytes a call, half the server's default max_body_bytes: long messages make
smaller batches (one longer than this goes alone)."""
PAGE = 1000
"""Transcript messages read a request (the API's largest page)."""

HEADER_KEYS = ("session", "namespace", "summary", "tokens")
MESSAGE_KEYS = ("id", "role", "content", "created_at", "summarized")


@dataclass
class ExportedSession:
    """One session as a file holds it: its header's fields and its messages, oldest first."""

    session: str
    namespace: str | None
    summary: str | None
    tokens: int
    messages: list[TranscriptMessage] = field(default_factory=list)
    line: int = 0
    """The header's line number, for errors."""
    message_lines: list[int] = field(default_factory=list)


class ExportFormatError(UsageError):
    """A file that is not an export chatcli can read, naming the line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"not a chatcli export: line {line}: {reason}")
        self.line = line


def _dumps(data: dict[str, Any]) -> str:
    """Keys in the order the dict is built (the README's), never sorted or escaped."""
    return json.dumps(data, ensure_ascii=False)


def header_line(session: str, namespace: str | None, summary: str | None, tokens: int) -> str:
    return _dumps(
        {
            "type": "session",
            "format": FORMAT,
            "version": VERSION,
            "session": session,
            "namespace": namespace,
            "summary": summary,
            "tokens": tokens,
        }
    )


def message_line(message: TranscriptMessage) -> str:
    return _dumps({"type": "message", **message.wire()})


def session_lines(session: ExportedSession) -> Iterator[str]:
    """The session's header, then one line per message; each without its newline."""
    yield header_line(session.session, session.namespace, session.summary, session.tokens)
    for message in session.messages:
        yield message_line(message)


def markdown_lines(session: ExportedSession) -> Iterator[str]:
    """For reading, not for import: a heading, the summary, then each message with its
    time (UTC, so the text is the same wherever it is written)."""
    yield f"# Session {session.session}"
    yield ""
    if session.namespace is not None:
        yield f"Namespace: {session.namespace}"
        yield ""
    if session.summary is not None and session.summary.strip():
        yield "## Summary"
        yield ""
        yield session.summary.strip()
        yield ""
    if session.messages:
        yield "## Messages"
        yield ""
    for message in session.messages:
        mark = ", summarized" if message.summarized else ""
        when = utc_time(message.created_at)
        yield f"**{message.role}** ({when}{mark}): {message.content.strip()}"
        yield ""


def utc_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_export(lines: Iterable[str]) -> list[ExportedSession]:
    """Every session in an export, in order; ExportFormatError at the first bad line.

    Blank lines are allowed (an editor may leave one at the end); a session's header must
    come before its messages, and a session may appear only once.
    """
    sessions: list[ExportedSession] = []
    seen: set[str] = set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExportFormatError(number, f"bad JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ExportFormatError(number, "a line must be a JSON object")
        kind = data.get("type")
        if kind == "session":
            session = _header(number, data)
            if session.session in seen:
                raise ExportFormatError(number, f"session {session.session} appears twice")
            seen.add(session.session)
            sessions.append(session)
        elif kind == "message":
            if not sessions:
                raise ExportFormatError(number, "a message before any session header")
            sessions[-1].messages.append(_message(number, data))
            sessions[-1].message_lines.append(number)
        else:
            raise ExportFormatError(number, f'"type" must be "session" or "message", got {kind!r}')
    return sessions


def _header(number: int, data: dict[str, Any]) -> ExportedSession:
    if data.get("format") != FORMAT:
        raise ExportFormatError(number, f'"format" must be "{FORMAT}", got {data.get("format")!r}')
    if data.get("version") != VERSION:
        raise ExportFormatError(
            number, f"version {data.get('version')!r} is not one this chatcli reads ({VERSION})"
        )
    for key in HEADER_KEYS:
        if key not in data:
            raise ExportFormatError(number, f'the session header has no "{key}"')
    session, namespace, summary, tokens = (data[key] for key in HEADER_KEYS)
    if not isinstance(session, str):
        raise ExportFormatError(number, '"session" must be a string')
    from chatcli.slash import session_id_problem

    problem = session_id_problem(session)
    if problem is not None:
        raise ExportFormatError(number, problem)
    if namespace is not None and not isinstance(namespace, str):
        raise ExportFormatError(number, '"namespace" must be a string or null')
    if summary is not None and not isinstance(summary, str):
        raise ExportFormatError(number, '"summary" must be a string or null')
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ExportFormatError(number, '"tokens" must be a non-negative integer')
    return ExportedSession(session, namespace, summary, tokens, line=number)


def _message(number: int, data: dict[str, Any]) -> TranscriptMessage:
    for key in MESSAGE_KEYS:
        if key not in data:
            raise ExportFormatError(number, f'the message has no "{key}"')
    for key in ("id", "role", "content"):
        if not isinstance(data[key], str):
            raise ExportFormatError(number, f'"{key}" must be a string')
    created = data["created_at"]
    if isinstance(created, bool) or not isinstance(created, int):
        raise ExportFormatError(number, '"created_at" must be unix time in milliseconds')
    if not isinstance(data["summarized"], bool):
        raise ExportFormatError(number, '"summarized" must be true or false')
    return TranscriptMessage(data["id"], data["role"], data["content"], created, data["summarized"])


MESSAGE_INDEX = re.compile(r"^messages\[(\d+)\]\.?\s*")


def check_importable(session: ExportedSession) -> None:
    """The server's own import rules (ids, roles, text, numbers), applied to the whole
    session before anything is written; its complaint names the file's line."""
    from chatcli.server.errors import BadInput
    from chatcli.server.validation import import_body, namespace

    body = {
        "messages": [message.wire() for message in session.messages],
        "context": session.summary,
        "tokens": session.tokens,
    }
    try:
        namespace(session.namespace)
        import_body(json.dumps(body).encode())
    except BadInput as exc:
        found = MESSAGE_INDEX.match(exc.message)
        if found is None:
            raise ExportFormatError(session.line, exc.message) from None
        line = session.message_lines[int(found.group(1))]
        raise ExportFormatError(line, exc.message[found.end() :] or exc.message) from None


def batches(messages: list[TranscriptMessage]) -> Iterator[list[TranscriptMessage]]:
    """Runs of at most BATCH_MESSAGES messages and (but for a single long one) BATCH_BYTES."""
    batch: list[TranscriptMessage] = []
    size = 0
    for message in messages:
        length = len(message.content.encode())
        if batch and (len(batch) >= BATCH_MESSAGES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += length
    if batch:
        yield batch


# The commands.


def read_session(client: MemoryClient, session: str) -> ExportedSession:
    """A session's header fields and its whole transcript, page by page."""
    memory = client.memory(session)
    page = client.transcript(session, limit=PAGE)
    namespace = page.namespace
    messages = list(page.messages)
    while page.next is not None:
        page = client.transcript(session, after=page.next, limit=PAGE)
        messages += page.messages
    return ExportedSession(session, namespace, memory.context, memory.tokens, messages)


def export_sessions(
    env: Environment,
    settings: Settings,
    *,
    sessions: list[str],
    every: bool,
    output: str | None,
    fmt: str,
) -> None:
    """Every named session read (and checked to exist) before the first byte is written;
    a file is written beside its place and moved there whole."""
    from chatcli.memory.open import open_client
    from chatcli.session_ref import all_sessions, check_session_id, resolve_session_id

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use jsonl or markdown")
    if every and sessions:
        raise UsageError("give session ids or --all, not both")
    if not every and not sessions:
        raise UsageError("name the sessions to export, or --all")
    for given in sessions:
        check_session_id(given)
    namespace = settings.memory.namespace
    with open_client(settings) as client:
        if every:
            ids = all_sessions(client, namespace)
        else:
            ids = list(dict.fromkeys(resolve_session_id(client, s, namespace) for s in sessions))
        exported = [read_session(client, session) for session in ids]
        for session in exported:
            if not every and not session.messages and session.summary is None:
                raise SessionNotFound(
                    f"no session named {session.session} in {client.where} (see `chatcli sessions`)"
                )
    render = session_lines if fmt == "jsonl" else markdown_lines
    lines = (line for session in exported for line in render(session))
    if output is None or output == "-":
        _write(env.stdout, lines)
    else:
        _write_file(Path(output), lines)
    total = sum(len(session.messages) for session in exported)
    print(
        f"exported {_count(len(exported), 'session')}, {_count(total, 'message')}", file=env.stderr
    )


def import_sessions(env: Environment, settings: Settings, *, file: str, rename: str | None) -> None:
    """The whole file parsed and checked first; then each session in batches, its summary
    and tokens with the first. Ids the memory holds already are skipped, so an import
    run twice (or after one cut short) adds each message once."""
    from chatcli.memory.open import open_client
    from chatcli.session_ref import check_session_id

    sessions = parse_export(_read_lines(env, file))
    if not sessions:
        raise UsageError(f"{file} holds no sessions")
    if rename is not None:
        check_session_id(rename)
        if len(sessions) > 1:
            raise UsageError(
                f"--as renames one session, and {file} holds {len(sessions)}: "
                "import them under their own ids"
            )
        sessions[0].session = rename
    for session in sessions:
        check_importable(session)
    with open_client(settings) as client:
        client.transcript(sessions[0].session, limit=1)  # a Motörhead says so before any write
        for session in sessions:
            added = skipped = 0
            first = True
            for batch in batches(session.messages) if session.messages else iter([[]]):
                a, s = client.import_messages(
                    session.session,
                    batch,
                    context=session.summary if first else None,
                    tokens=session.tokens if first else None,
                    namespace=session.namespace,
                )
                added, skipped, first = added + a, skipped + s, False
            print(f"session {session.session}: {added} added, {skipped} skipped", file=env.stderr)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _read_lines(env: Environment, file: str) -> list[str]:
    if file == "-":
        return env.stdin.read().splitlines()
    try:
        return Path(file).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"no file {file}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not UTF-8 text: not a chatcli export") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None


def _write(stream: IO[str], lines: Iterable[str]) -> None:
    for line in lines:
        stream.write(line + "\n")
    stream.flush()


def _write_file(path: Path, lines: Iterable[str]) -> None:
    """Written to a temporary file in the same directory, then renamed over `path`, so an
    export cut short never leaves half a file where a whole one was."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            _write(stream, lines)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
