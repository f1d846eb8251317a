"""`chatcli chat`'s wiring: resolve the session, open the memory server, run the REPL."""

from __future__ import annotations

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.repl.chat import Chat
from chatcli.repl.inputs import InputSource, default_input
from chatcli.repl.trace import TraceStream
from chatcli.slash import session_id_problem


def run_chat(
    env: Environment,
    settings: Settings,
    *,
    session: str | None,
    cont: bool,
    verbose: bool,
    raw: bool,
    input_source: InputSource | None = None,
) -> None:
    """The `chat` command: resolve the session, open the memory server, and run the REPL."""
    from chatcli.conversation import Conversation
    from chatcli.local_models import LocalModels
    from chatcli.memory.open import open_memory
    from chatcli.state import resolve_session

    session_id, is_new = resolve_session(env, session, cont)
    problem = session_id_problem(session_id)
    if problem is not None:
        raise UsageError(problem)
    models = LocalModels()
    models.preload(settings.llm)
    with open_memory(settings, models) as client:
        source = input_source or default_input(env, settings)
        trace = TraceStream(env.stderr)
        conversation = Conversation(
            settings, client, session_id, verbose=verbose, trace=trace, models=models
        )
        try:
            chat = Chat(env, settings, conversation, client, source, raw=raw)
            trace.chat = chat
            _greet(chat, is_new)
            chat.run()
        finally:
            conversation.close()


def _greet(chat: Chat, is_new: bool) -> None:
    session_id = chat.session_id
    if is_new:
        chat.status(f"session {session_id}: resume with `chatcli chat -s {session_id}` or `-c`")
    else:
        memory = chat.client.memory(session_id)
        if memory.is_empty:
            chat.status(f"session {session_id} (new)")
        else:
            summary = ", and a summary" if memory.summary else ""
            chat.remember()
            chat.status(f"session {session_id}: {len(memory.messages)} messages{summary}")
    if chat.source.interactive:
        chat.status("/help for commands, Alt-Enter for a new line, Ctrl-D to leave")
