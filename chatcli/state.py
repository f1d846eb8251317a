"""Which session a command talks to: a named one, the last one used (-c), or a new one.

"The last one used" is the last with something saved in it: commands remember a session
once a turn is saved there, or when the user opens one that has messages, never an
empty one, so a chat opened and left untouched does not take `-c` away from the last
real conversation.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from chatcli.env import Environment
from chatcli.errors import UsageError

LAST_SESSION_FILE = "last_session"


def new_session_id() -> str:
    """Readable and sortable by day, random enough that two terminals never collide."""
    return f"chat-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def _state_file(env: Environment) -> Path:
    return env.data_dir / LAST_SESSION_FILE


def last_session(env: Environment) -> str | None:
    try:
        text = _state_file(env).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def remember_session(env: Environment, session_id: str) -> None:
    """Call once `session_id` has something saved (see the module's docstring).

    Written via a temporary file so two commands finishing at once never leave half an id.
    """
    path = _state_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(session_id + "\n", encoding="utf-8")
    os.replace(tmp, path)


def resolve_session(env: Environment, session: str | None, cont: bool) -> tuple[str, bool]:
    """(session_id, is_new): is_new when chatcli made the id up, so the user should be told it."""
    if session is not None and cont:
        raise UsageError("-s/--session and -c/--continue cannot be used together: pick one")
    if session is not None:
        if not session.strip():
            raise UsageError("-s/--session needs a session id")
        return session, False
    if cont:
        last = last_session(env)
        if last is None:
            raise UsageError(
                "no session to continue: none has been used yet; start one, or pick one with -s"
            )
        return last, False
    return new_session_id(), True
