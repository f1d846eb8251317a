"""`sessions`, `history`, `clear`, `config show|path`: looking at what the memory server holds.

Only chatcli.memory's small clients and Rich: these commands never import LangChain,
so they start fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatcli.config import Settings, config_file_path, masked
from chatcli.env import Environment
from chatcli.errors import MemoryServerError, NeedsChatcliServer, SessionNotFound, UsageError
from chatcli.memory.open import open_client
from chatcli.memory.session import SessionMemory, parse_memory
from chatcli.session_ref import all_sessions
from chatcli.transcripts import Transcript, read_transcript
from chatcli.when import since_ms

if TYPE_CHECKING:
    from rich.console import Console

PAGE_SIZE = 10
"""Sessions a page of `chatcli sessions`, as Motörhead's API pages them by default."""


def list_sessions(
    env: Environment,
    settings: Settings,
    *,
    namespace: str | None,
    page: int,
    size: int | None,
    json_out: bool,
) -> None:
    """The most recently written sessions first, `size` a page, each with its size.

    The server's index is oldest first (Motörhead's order, kept by the API), so the whole
    index is read to find the newest; --json keeps the server's own order and paging, for
    scripts that page the API's way.
    """
    again = [
        *(["--namespace", namespace] if namespace else []),
        *(["--size", str(size)] if size else []),
    ]
    size = size or PAGE_SIZE
    namespace = namespace or settings.memory.namespace
    with open_client(settings) as client:
        where = client.where
        if json_out:
            ids = client.sessions(namespace, page, size)
            total = None
        else:
            newest_first = all_sessions(client, namespace)[::-1]
            total = len(newest_first)
            ids = newest_first[(page - 1) * size : page * size]
        rows = [(session_id, client.memory(session_id)) for session_id in ids]
    if json_out:
        data = [
            {
                "id": session_id,
                "messages": len(memory.messages),
                "summary": memory.summary is not None,
                "tokens": memory.tokens,
            }
            for session_id, memory in rows
        ]
        print(json.dumps(data, ensure_ascii=False, indent=2), file=env.stdout)
        return
    assert total is not None
    if not rows:
        scope = f" in namespace {namespace}" if namespace else ""
        if total:
            pages = -(-total // size)
            print(
                f"no sessions on page {page}: {plural(total, 'session')}{scope}, "
                f"{plural(pages, 'page')} of {size}",
                file=env.stderr,
            )
        else:
            print(f"no sessions{scope} in {where}", file=env.stderr)
        return
    if not env.stdout_isatty:
        for session_id, memory in rows:
            summary = "summary" if memory.summary is not None else "no summary"
            print(f"{session_id}\t{len(memory.messages)} messages\t{summary}", file=env.stdout)
    else:
        from rich.table import Table

        from chatcli.render import console_for

        table = Table("session", "messages", "summary", box=None, header_style="bold")
        for session_id, memory in rows:
            table.add_row(session_id, str(len(memory.messages)), _yes(memory.summary is not None))
        console_for(env, env.stdout).print(table)
    older = total - page * size
    if older > 0:
        command = " ".join(["chatcli sessions", "--page", str(page + 1), *again])
        print(f"{plural(older, 'older session')}: {command}", file=env.stderr)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def show_history(
    env: Environment,
    settings: Settings,
    *,
    session: str,
    json_out: bool,
    raw: bool,
    window: bool = False,
    limit: int | None = None,
    since: str | None = None,
) -> None:
    """The whole transcript with ids, the summary where it stands; `window` is what the
    model sees now (Motörhead's GET, and all a Motörhead has: shown with a note)."""
    if window and since is not None:
        raise UsageError("--since needs the transcript's times: leave out --window")
    start = since_ms(since, int(time.time() * 1000)) if since is not None else None
    transcript: Transcript | None = None
    with open_client(settings) as client:
        where = client.where
        data = client.memory_raw(session)
        memory = _window(data, where, session)
        if not window:
            try:
                transcript = read_transcript(client, session, limit=limit, since=start)
            except NeedsChatcliServer:
                if start is not None:
                    raise
                print(
                    f"note: {where} keeps no transcript (a Motörhead): "
                    "showing its window, the summary and the latest messages",
                    file=env.stderr,
                )
    if memory.is_empty and (transcript is None or transcript.total == 0):
        raise SessionNotFound(f"no session named {session} in {where} (see `chatcli sessions`)")
    if transcript is None:
        _show_window(env, data, memory, json_out=json_out, raw=raw, limit=limit)
        return
    if json_out:
        shown = {
            "session": session,
            "namespace": transcript.namespace,
            "summary": memory.summary,
            "tokens": memory.tokens,
            "total": transcript.total,
            "messages": [message.wire() for message in transcript.messages],
        }
        print(json.dumps(shown, ensure_ascii=False, indent=2), file=env.stdout)
        return
    if not transcript.messages:
        print(
            f"no messages since {since} in session {session} "
            f"({plural(transcript.total, 'message')} in all)",
            file=env.stderr,
        )
        return
    from chatcli.transcript_view import print_full_transcript

    summary = memory.summary
    _paged(env, raw, lambda console: print_full_transcript(console, transcript, summary, raw=raw))


def _window(data: dict[str, Any], where: str, session: str) -> SessionMemory:
    try:
        return parse_memory(data)
    except ValueError:
        raise MemoryServerError(
            f"{where} gave an unexpected answer for session {session}: "
            "is memory.url a Motörhead-compatible server?"
        ) from None


def _show_window(
    env: Environment,
    data: dict[str, Any],
    memory: SessionMemory,
    *,
    json_out: bool,
    raw: bool,
    limit: int | None,
) -> None:
    """Today's view: the server's own answer for --json, else the summary then the turns;
    --limit keeps the latest messages of the window."""
    if limit is not None:
        data = {**data, "messages": (data.get("messages") or [])[:limit]}
        memory = SessionMemory(memory.messages[-limit:], memory.context, memory.tokens)
    if json_out:
        print(json.dumps(data, ensure_ascii=False, indent=2), file=env.stdout)
        return
    from chatcli.render import print_transcript

    _paged(env, raw, lambda console: print_transcript(console, memory, raw=raw))


def _paged(env: Environment, raw: bool, draw: Callable[[Console], None]) -> None:
    """Drawn off-screen first, so a terminal gets the pager only when it overflows."""
    from chatcli.pager import show
    from chatcli.render import console_for

    console = console_for(env, env.stdout, force_plain=raw)
    with console.capture() as captured:
        draw(console)
    show(
        captured.get(),
        env.stdout,
        isatty=env.stdout_isatty,
        height=console.height,
        environ=env.environ,
    )


def clear_session(
    env: Environment, settings: Settings, *, session: str, yes: bool, namespace: str | None
) -> None:
    """Asks first on a terminal; off a terminal only --yes deletes, so scripts are explicit.

    chatcli's server deletes the whole transcript with the window, and the question and
    the last line say so; a Motörhead holds only the window."""
    if not yes and not env.stdin_isatty:
        raise UsageError("refusing to delete without --yes when not on a terminal")
    namespace = namespace or settings.memory.namespace
    with open_client(settings) as client:
        where = client.where
        memory = client.memory(session)
        try:
            total: int | None = read_transcript(client, session).total
        except NeedsChatcliServer:
            total = None
        if memory.is_empty and not total:
            raise SessionNotFound(f"no session named {session} in {where} (see `chatcli sessions`)")
        if total is None:
            what = f"({plural(len(memory.messages), 'message')})"
            done = f"deleted session {session}"
        else:
            what = f"(every one of its {plural(total, 'message')}, not only the window)"
            done = (
                f"deleted session {session}: all {plural(total, 'message')} of its transcript, "
                "not only the window"
            )
        if not yes and not _confirm(env, f"delete session {session} {what} from {where}? [y/N] "):
            print(f"kept session {session}", file=env.stderr)
            return
        client.delete(session, namespace)
    print(done, file=env.stderr)


def _confirm(env: Environment, question: str) -> bool:
    """Ask on stderr; an answer cut short (Ctrl-D, Ctrl-C) ends the question's line, so
    what follows starts on a line of its own."""
    env.stderr.write(question)
    env.stderr.flush()
    try:
        answer = env.stdin.readline()
    except KeyboardInterrupt:
        _end_line(env)
        raise
    if not answer.endswith("\n"):
        _end_line(env)
    return answer.strip().lower() in {"y", "yes"}


def _end_line(env: Environment) -> None:
    env.stderr.write("\n")
    env.stderr.flush()


def show_config(
    env: Environment, settings: Settings, *, json_out: bool, config: Path | None
) -> None:
    """The settings in force after every layer, secrets masked, headed by what they amount
    to: the provider `auto` resolves to, the model it uses, and the local model's file."""
    from chatcli.models_list import local_model, model_in_use

    provider, model = model_in_use(settings.llm)
    local = local_model(settings.llm) if provider == "local" else None
    in_use = {
        "provider": provider,
        "model": model,
        "local_model_path": str(local.path) if local and local.path else None,
        "local_model_state": local.state if local else None,
    }
    data = masked(settings)
    if json_out:
        print(json.dumps({"in_use": in_use, **data}, indent=2), file=env.stdout)
        return
    path = config_file_path(env, config)
    state = "" if path.exists() else " (not found: defaults and environment only)"
    lines = [f"# config file: {path}{state}"]
    lines.append(f"# in use: provider {provider}, model {model}")
    if local is not None:
        where = f" at {local.path}" if local.path else ""
        lines.append(f"# local model file{where} ({local.state})")
        lines.append("# (llm.model names the openai provider's model; the local one ignores it)")
    for section, values in data.items():
        lines += ["", f"[{section}]"]
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}" if value is not None else f"# {key} is unset")
    print("\n".join(lines), file=env.stdout)


def show_config_path(env: Environment, settings: Settings, *, config: Path | None) -> None:
    print(config_file_path(env, config), file=env.stdout)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
