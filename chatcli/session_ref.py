"""The session a command names: a valid id, or a unique prefix of one the server holds.

Every command that takes an id (`chat -s`, `ask -s`, `history`, `clear`) goes through
`naming_session`, so the id is checked before anything slow (the server's rule and
wording, via chatcli.slash) and `chatcli clear 8ab277` works wherever a full id would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.memory.protocol import MemoryClient
from chatcli.server.validation import MAX_PAGE, MAX_SIZE
from chatcli.slash import session_id_problem

SHOWN_CANDIDATES = 5


def check_session_id(session: str) -> None:
    """Refuse an id the server would refuse, in the server's words, before any request."""
    problem = session_id_problem(session)
    if problem is not None:
        raise UsageError(problem)


def match_session(given: str, known: Sequence[str]) -> str | None:
    """The session `given` names among `known`: itself when known, else the one id it
    starts; None when it names none. Several ids sharing the prefix is a usage error."""
    if given in known:
        return given
    found = [session for session in known if session.startswith(given)]
    if len(found) == 1:
        return found[0]
    if not found:
        return None
    shown = ", ".join(found[:SHOWN_CANDIDATES])
    more = f" and {len(found) - SHOWN_CANDIDATES} more" if len(found) > SHOWN_CANDIDATES else ""
    raise UsageError(
        f"session prefix {given} matches {len(found)} sessions: {shown}{more} (give more of the id)"
    )


def all_sessions(client: MemoryClient, namespace: str | None) -> list[str]:
    """Every id in the server's index, in its order (least recently written first), read
    in the largest pages the API allows; past MAX_PAGE pages the API shows nothing more."""
    found: list[str] = []
    for page in range(1, MAX_PAGE + 1):
        ids = client.sessions(namespace, page, MAX_SIZE)
        found += ids
        if len(ids) < MAX_SIZE:
            break
    return found


def resolve_session_id(client: MemoryClient, given: str, namespace: str | None) -> str:
    """`given` itself when it holds messages or names no session; else the one it prefixes."""
    if not client.memory(given).is_empty:
        return given
    return match_session(given, all_sessions(client, namespace)) or given


SessionCommand = Callable[..., None]


def naming_session(
    command: SessionCommand, session: str | None, namespace: str | None = None
) -> Callable[[Environment, Settings], None]:
    """`command(env, settings, session=...)` with the id the user gave checked and resolved."""

    def run(env: Environment, settings: Settings) -> None:
        resolved = session
        if session is not None and session.strip():
            check_session_id(session)
            from chatcli.memory.open import open_client

            with open_client(settings) as client:
                resolved = resolve_session_id(
                    client, session, namespace or settings.memory.namespace
                )
        command(env, settings, session=resolved)

    return run
