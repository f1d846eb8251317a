"""`forget`, `edit`, `fork` and `rename`: changing a session's transcript, one message or
one session at a time, through chatcli's transcript routes.

A Motörhead has none of them: the first request is a transcript read, whose
NeedsChatcliServer ends the command before anything is changed. `forget` checks every id
first, so an unknown one forgets nothing.
"""

from __future__ import annotations

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import NotFound, SessionNotFound, UsageError
from chatcli.memory.open import open_client
from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import TranscriptMessage
from chatcli.server.errors import BadInput
from chatcli.session_ref import check_session_id
from chatcli.state import last_session, remember_session
from chatcli.transcripts import Transcript, read_transcript

PREVIEW = 60
"""Characters of a message shown in the line that says it was forgotten or edited."""


def check_message_id(message_id: str) -> None:
    """The server's rule and wording, before any request."""
    from chatcli.server.validation import message_id as valid_message_id

    try:
        valid_message_id(message_id)
    except BadInput as exc:
        raise UsageError(exc.message) from None


def forget_messages(
    env: Environment, settings: Settings, *, session: str, message_ids: list[str]
) -> None:
    """All or nothing: every id is checked against the transcript before the first delete."""
    wanted = list(dict.fromkeys(message_ids))
    for message_id in wanted:
        check_message_id(message_id)
    with open_client(settings) as client:
        held = {m.id: m for m in _existing(client, session).messages}
        missing = [message_id for message_id in wanted if message_id not in held]
        if missing:
            raise NotFound(
                f"no message {', '.join(missing)} in session {session}: nothing forgotten "
                f"(see `chatcli history {session}`)"
            )
        for message_id in wanted:
            client.forget(session, message_id)
            print(f"forgot {describe(held[message_id])}", file=env.stderr)


def edit_message(
    env: Environment,
    settings: Settings,
    *,
    session: str,
    message_id: str,
    content: str | None,
) -> None:
    """The new content from --content, else from the editor opened on the current one.

    An AI message keeps its one leading space (the seed's prompt format, see
    chatcli.prompt.stored_reply) whatever the editor leaves; an empty text changes nothing.
    """
    check_message_id(message_id)
    with open_client(settings) as client:
        message = _find(_existing(client, session), session, message_id)
        if content is None:
            from chatcli.repl.editor import edit_text

            content = edit_text(message.content.strip(), env.environ, undone="nothing changed")
        text = content.strip()
        if not text:
            print(
                f"empty message: {message_id} unchanged "
                f"(to remove it: chatcli forget {session} {message_id})",
                file=env.stderr,
            )
            return
        new = (" " if message.content[:1].isspace() else "") + text
        if new == message.content:
            print(f"{message_id} unchanged", file=env.stderr)
            return
        edited = client.edit(session, message_id, new)
    print(f"edited {describe(edited)}", file=env.stderr)


def fork_session(
    env: Environment, settings: Settings, *, session: str, to: str, at: str | None
) -> None:
    """The new session goes in the namespace the old one was posted with."""
    check_session_id(to)
    if at is not None:
        check_message_id(at)
    with open_client(settings) as client:
        count = _fork(client, settings, session, to, at)
    print(f"forked {session} into {to}: {_messages(count)}", file=env.stderr)


def rename_session(env: Environment, settings: Settings, *, session: str, to: str) -> None:
    """A fork of everything, then the old session cleared: if the fork is refused (the
    new id has data) the old session is untouched."""
    check_session_id(to)
    if to == session:
        raise UsageError(f"session {session} already has that name")
    with open_client(settings) as client:
        namespace = _existing(client, session).namespace or settings.memory.namespace
        count = client.fork(session, to, namespace=namespace)
        client.delete(session, namespace)
    if last_session(env) == session:
        remember_session(env, to)  # so `-c` goes on with the conversation, not an empty id
    print(f"renamed {session} to {to}: {_messages(count)}", file=env.stderr)


def describe(message: TranscriptMessage) -> str:
    """`ID (Role: the first words...)`, one line whatever the content."""
    words = " ".join(message.content.split())
    if len(words) > PREVIEW:
        words = words[: PREVIEW - 3] + "..."
    return f"{message.id} ({message.role or '?'}: {words})"


def _fork(client: MemoryClient, settings: Settings, session: str, to: str, at: str | None) -> int:
    namespace = _existing(client, session).namespace or settings.memory.namespace
    return client.fork(session, to, at=at, namespace=namespace)


def _existing(client: MemoryClient, session: str) -> Transcript:
    transcript = read_transcript(client, session)
    if transcript.total == 0:
        raise SessionNotFound(
            f"no session named {session} in {client.where} (see `chatcli sessions`)"
        )
    return transcript


def _find(transcript: Transcript, session: str, message_id: str) -> TranscriptMessage:
    for message in transcript.messages:
        if message.id == message_id:
            return message
    raise NotFound(
        f"no message {message_id} in session {session} (see `chatcli history {session}`)"
    )


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"
