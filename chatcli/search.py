"""`chatcli search`: the messages nearest some words, in one session or in all of them,
through the memory's long-term search (chatcli's /search; a Motörhead has none).

Which session, when none is named: the last one used, as `chat -c` continues it.
"""

from __future__ import annotations

import json

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.memory.open import open_client
from chatcli.memory.session import Hit
from chatcli.session_ref import check_session_id, resolve_session_id
from chatcli.state import last_session


def search_scope(env: Environment, session: str | None, every: bool) -> str | None:
    """The session to search, or None for every session; a named one is checked (not yet
    resolved: it may be a prefix)."""
    if session is not None and every:
        raise UsageError("-s/--session and --all cannot be used together: pick one")
    if every:
        return None
    if session is not None:
        if not session.strip():
            raise UsageError("-s/--session needs a session id")
        check_session_id(session)
        return session
    last = last_session(env)
    if last is None:
        raise UsageError("no session to search: none has been used yet; give -s SESSION or --all")
    return last


def check_query(query: str) -> str:
    text = query.strip()
    if not text:
        raise UsageError("search needs words to look for: chatcli search WORDS")
    return text


def run_search(
    env: Environment,
    settings: Settings,
    *,
    query: str,
    session: str | None,
    every: bool,
    limit: int,
    json_out: bool,
) -> None:
    """The query and the scope are checked before the memory is opened."""
    text = check_query(query)
    scope = search_scope(env, session, every)
    with open_client(settings) as client:
        if session is not None and scope is not None:
            scope = resolve_session_id(client, scope, settings.memory.namespace)
        hits = client.search(text, scope, limit)
        where = client.where
    if json_out:
        for hit in hits:
            print(json.dumps(hit.wire(), ensure_ascii=False), file=env.stdout)
        return
    if not hits:
        place = f"session {scope}" if scope is not None else where
        print(f"no messages in {place} match {text!r}", file=env.stderr)
        return
    from chatcli.render import console_for
    from chatcli.search_view import print_hits

    print_hits(console_for(env, env.stdout), hits, text)
    if env.stderr_isatty:
        print(act_hint(hits[0]), file=env.stderr)


def act_hint(hit: Hit) -> str:
    """What the ids are for, with the first hit's own."""
    return (
        f"forget one: chatcli forget {hit.session_id} {hit.id}; "
        f"fork from one: chatcli fork {hit.session_id} NEW --at {hit.id}"
    )
