"""The commands: each parses its options and calls one function elsewhere.

Nothing heavy is imported here, so `chatcli --help` starts fast; each command
imports the module that does its work when it runs.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from chatcli import __version__
from chatcli.commandline import ChatcliGroup
from chatcli.runner import Context, run

app = typer.Typer(
    name="chatcli",
    cls=ChatcliGroup,
    help="A terminal chatbot with persistent Motörhead memory.\n\n"
    "--config, --debug and --memory-url also work after the command's name.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(
    cls=ChatcliGroup, help="Show the settings in force and where they come from."
)
app.add_typer(config_app, name="config")

SessionOpt = Annotated[
    str | None,
    typer.Option("--session", "-s", help="Session id, or a unique prefix of one (created if new)."),
]
ContinueOpt = Annotated[
    bool, typer.Option("--continue", "-c", help="Continue the last session used.")
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name (openai).")]
LLMOpt = Annotated[str | None, typer.Option("--llm", help="LLM provider: local, openai or auto.")]
SystemOpt = Annotated[
    str | None,
    typer.Option("--system", help="The prompt's first line (chat.system; default: the seed's)."),
]
TemperatureOpt = Annotated[
    float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature.")
]
MaxTokensOpt = Annotated[
    int | None, typer.Option("--max-tokens", min=1, help="Longest answer, in tokens.")
]
NoStreamOpt = Annotated[
    bool, typer.Option("--no-stream", help="Show the answer whole, not token by token.")
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", help="Print LangChain's LLMChain trace on stderr.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace", help="Sessions namespace.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chatcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (default: the user config dir).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    memory_url: Annotated[
        str | None,
        typer.Option(
            "--memory-url",
            metavar="URL",
            help="Motörhead-compatible memory server; unset means the embedded one.",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """Global options: also accepted after the command (chatcli.commandline)."""
    ctx.obj = Context(config_path=config, debug=debug, memory_url=memory_url, base=ctx.obj)


def _llm_flags(model: str | None, llm: str | None) -> dict:
    return {"llm": {"model": model, "provider": llm}}


def _turn_flags(
    model: str | None,
    llm: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    no_stream: bool,
) -> dict:
    """chat's and ask's per-call settings, as the flags layer of the settings."""
    flags = _llm_flags(model, llm)
    flags["llm"].update(
        {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": False if no_stream else None,
        }
    )
    return {**flags, "chat": {"system": system}}


@app.command()
def chat(
    ctx: typer.Context,
    session: SessionOpt = None,
    cont: ContinueOpt = False,
    model: ModelOpt = None,
    llm: LLMOpt = None,
    system: SystemOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    no_stream: NoStreamOpt = False,
    verbose: VerboseOpt = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text, no Markdown rendering.")] = False,
) -> None:
    """Chat in an interactive REPL that remembers across runs."""
    from chatcli.repl import run_chat
    from chatcli.session_ref import naming_session

    flags = _turn_flags(model, llm, system, temperature, max_tokens, no_stream)
    command = partial(run_chat, cont=cont, verbose=verbose, raw=raw)
    run(ctx, flags, naming_session(command, session))


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[
        str | None, typer.Argument(help="The question; read from stdin when omitted.")
    ] = None,
    session: SessionOpt = None,
    cont: ContinueOpt = False,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="A text file to put after the question, under a '--- FILE ---' line; repeatable.",
        ),
    ] = None,
    model: ModelOpt = None,
    llm: LLMOpt = None,
    system: SystemOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    no_stream: NoStreamOpt = False,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ask one question; the answer alone goes to stdout."""
    from chatcli.ask import run_ask
    from chatcli.session_ref import naming_session

    flags = _turn_flags(model, llm, system, temperature, max_tokens, no_stream)
    command = partial(
        run_ask,
        question=question,
        cont=cont,
        json_out=json_out,
        verbose=verbose,
        files=files or [],
    )
    run(ctx, flags, naming_session(command, session))


@app.command()
def sessions(
    ctx: typer.Context,
    namespace: NamespaceOpt = None,
    page: Annotated[
        int, typer.Option("--page", min=1, max=100, help="Page, from 1: the most recent.")
    ] = 1,
    size: Annotated[
        int | None, typer.Option("--size", min=1, max=1000, help="Sessions a page (default 10).")
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON, in the server's order and pages (least recently written first).",
        ),
    ] = False,
) -> None:
    """List the memory server's sessions, most recent first."""
    from chatcli.manage import list_sessions

    command = partial(list_sessions, namespace=namespace, page=page, size=size, json_out=json_out)
    run(ctx, {}, command)


SessionArg = Annotated[str, typer.Argument(help="The session id, or a unique prefix of one.")]


@app.command()
def history(
    ctx: typer.Context,
    session: SessionArg,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON: session, summary, tokens, messages with ids and times."
        ),
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text transcript.")] = False,
    window: Annotated[
        bool,
        typer.Option(
            "--window", help="Only what the model sees now: the summary and the latest messages."
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, metavar="N", help="Only the last N messages.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only messages from WHEN: an ISO date or time, or an age (90s, 15m, 2h, 3d, 1w).",
        ),
    ] = None,
) -> None:
    """Show a session's whole transcript, oldest first, with message ids and the summary."""
    from chatcli.manage import show_history
    from chatcli.session_ref import naming_session

    command = partial(
        show_history, json_out=json_out, raw=raw, window=window, limit=limit, since=since
    )
    run(ctx, {}, naming_session(command, session))


@app.command()
def clear(
    ctx: typer.Context,
    session: SessionArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    namespace: NamespaceOpt = None,
) -> None:
    """Delete a session: every message of its transcript, not only the window."""
    from chatcli.manage import clear_session
    from chatcli.session_ref import naming_session

    command = partial(clear_session, yes=yes, namespace=namespace)
    run(ctx, {}, naming_session(command, session, namespace))


MessageIdArg = Annotated[str, typer.Argument(help="A message id, as `chatcli history` shows it.")]
NewSessionArg = Annotated[str, typer.Argument(help="The new session's id (it must hold nothing).")]


@app.command()
def forget(
    ctx: typer.Context,
    session: SessionArg,
    message_ids: Annotated[
        list[str], typer.Argument(metavar="MSG_ID...", help="Message ids, as `history` shows them.")
    ],
) -> None:
    """Delete messages from a transcript (an unknown id: none are)."""
    from chatcli.edits import forget_messages
    from chatcli.session_ref import naming_session

    run(ctx, {}, naming_session(partial(forget_messages, message_ids=message_ids), session))


@app.command()
def edit(
    ctx: typer.Context,
    session: SessionArg,
    message_id: MessageIdArg,
    content: Annotated[
        str | None,
        typer.Option("--content", metavar="TEXT", help="The new content (else $VISUAL/$EDITOR)."),
    ] = None,
) -> None:
    """Change one message's content, in your editor or with --content."""
    from chatcli.edits import edit_message
    from chatcli.session_ref import naming_session

    command = partial(edit_message, message_id=message_id, content=content)
    run(ctx, {}, naming_session(command, session))


@app.command()
def fork(
    ctx: typer.Context,
    session: SessionArg,
    new: NewSessionArg,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="MSG_ID", help="Copy up to and including this message."),
    ] = None,
) -> None:
    """Copy a session, whole or up to a message, into a new one."""
    from chatcli.edits import fork_session
    from chatcli.session_ref import naming_session

    run(ctx, {}, naming_session(partial(fork_session, to=new, at=at), session))


@app.command()
def rename(ctx: typer.Context, session: SessionArg, new: NewSessionArg) -> None:
    """Give a session a new id: a whole fork, then the old one cleared."""
    from chatcli.edits import rename_session
    from chatcli.session_ref import naming_session

    run(ctx, {}, naming_session(partial(rename_session, to=new), session))


# export and import: moving whole sessions between memories (chatcli.transfer).


@app.command()
def export(
    ctx: typer.Context,
    sessions: Annotated[
        list[str] | None, typer.Argument(help="Session ids (or unique prefixes) to export.")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every session in the configured namespace.")
    ] = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here (default, or -: stdout)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="jsonl (for import; the default) or markdown (for reading)."),
    ] = "jsonl",
) -> None:
    """Write sessions, whole transcripts with ids and times, as JSON Lines or Markdown."""
    from chatcli.transfer import export_sessions

    command = partial(export_sessions, sessions=sessions or [], every=every, output=output, fmt=fmt)
    run(ctx, {}, command)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="An export file, or - for stdin.")],
    rename: Annotated[
        str | None,
        typer.Option("--as", metavar="NEW", help="Import the file's one session as NEW."),
    ] = None,
) -> None:
    """Add an export's sessions to this memory; messages it holds already are skipped."""
    from chatcli.transfer import import_sessions

    run(ctx, {}, partial(import_sessions, file=file, rename=rename))


@app.command()
def models(ctx: typer.Context, model: ModelOpt = None, llm: LLMOpt = None) -> None:
    """List the configured provider's models (* marks the one used) and the local model."""
    from chatcli.models_list import list_models

    run(ctx, _llm_flags(model, llm), list_models)


@config_app.command("show")
def config_show(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the settings in force, secrets masked."""
    from chatcli.manage import show_config

    run(ctx, {}, partial(show_config, json_out=json_out, config=ctx.obj.config_path))


@config_app.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print the config file's path."""
    from chatcli.manage import show_config_path

    run(ctx, {}, partial(show_config_path, config=ctx.obj.config_path))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080, or $PORT).")] = None,
    store: Annotated[str | None, typer.Option(help="sqlite (default) or redis.")] = None,
    db: Annotated[Path | None, typer.Option(help="SQLite file (default: user data dir).")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL (or $REDIS_URL).")] = None,
    window: Annotated[
        int | None, typer.Option(help="Messages kept before summarizing (default 12).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="Require this key in the x-api-key header.",
            envvar="CHATCLI_SERVER_API_KEY",
            show_envvar=False,
        ),
    ] = None,
    allow_public: Annotated[
        bool, typer.Option("--allow-public", help="Allow a non-loopback bind without a key.")
    ] = False,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Largest request body accepted.")
    ] = None,
    summarize: Annotated[
        bool | None,
        typer.Option("--summarize/--no-summarize", help="Summarize sessions over the window."),
    ] = None,
    long_term_memory: Annotated[
        bool | None,
        typer.Option(
            "--long-term-memory/--no-long-term-memory",
            help="Answer /retrieval and /search, indexing every message (default on).",
        ),
    ] = None,
    model: ModelOpt = None,
    llm: LLMOpt = None,
    log_level: Annotated[str | None, typer.Option(help="critical..debug (default info).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes serving the port (default 1).")
    ] = None,
) -> None:
    """Serve the Motörhead memory API (SQLite or Redis)."""
    from chatcli.server.run import serve as run_serve

    flags = {
        **_llm_flags(model, llm),
        "server": {
            "host": host,
            "port": port,
            "store": store,
            "db": str(db) if db else None,
            "redis_url": redis_url,
            "window": window,
            "api_key": api_key,
            "allow_public": allow_public or None,
            "max_body_bytes": max_body_bytes,
            "summarize": summarize,
            "long_term_memory": long_term_memory,
            "log_level": log_level,
            "workers": workers,
        },
    }
    run(ctx, flags, run_serve, motorhead_env=True)


@app.command()
def reindex(ctx: typer.Context) -> None:
    """Index every message of the configured store for recall now (a progress bar on a terminal)."""
    from chatcli.reindex import reindex as run_reindex

    run(ctx, {}, run_reindex)


def main() -> None:
    """The installed `chatcli` command: Typer's app, then an exit without finalization.

    By the time the app returns, every answer is flushed and every file written and
    closed; tearing down the thousands of modules LangChain loads would only add half
    a second to each `ask`. Tests call `app` itself and keep normal interpreter exits.
    """
    try:
        app()
        code: object = 0
    except SystemExit as exit:
        code = exit.code
    exit_now(code)


def exit_now(code: object) -> NoReturn:
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            status = status or 1
    os._exit(status)
