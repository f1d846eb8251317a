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
from chatcli.runner import Context, run

app = typer.Typer(
    name="chatcli",
    help="A terminal chatbot with persistent Motörhead memory.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show the settings in force and where they come from.")
app.add_typer(config_app, name="config")

SessionOpt = Annotated[
    str | None, typer.Option("--session", "-s", help="Session id to use (created if new).")
]
ContinueOpt = Annotated[
    bool, typer.Option("--continue", "-c", help="Continue the last session used.")
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name (openai).")]
LLMOpt = Annotated[str | None, typer.Option("--llm", help="LLM provider: local, openai or auto.")]
MemoryUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-url",
        help="Motörhead-compatible memory server; unset means the embedded one.",
        envvar="CHATCLI_MEMORY_URL",
        show_envvar=False,
    ),
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
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    ctx.obj = Context(config_path=config, debug=debug, base=ctx.obj)


def _llm_flags(model: str | None, llm: str | None) -> dict:
    return {"llm": {"model": model, "provider": llm}}


@app.command()
def chat(
    ctx: typer.Context,
    session: SessionOpt = None,
    cont: ContinueOpt = False,
    model: ModelOpt = None,
    llm: LLMOpt = None,
    memory_url: MemoryUrlOpt = None,
    verbose: VerboseOpt = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text, no Markdown rendering.")] = False,
) -> None:
    """Chat in an interactive REPL that remembers across runs."""
    from chatcli.repl import run_chat

    flags = {**_llm_flags(model, llm), "memory": {"url": memory_url}}
    run(ctx, flags, partial(run_chat, session=session, cont=cont, verbose=verbose, raw=raw))


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[
        str | None, typer.Argument(help="The question; read from stdin when omitted.")
    ] = None,
    session: SessionOpt = None,
    cont: ContinueOpt = False,
    model: ModelOpt = None,
    llm: LLMOpt = None,
    memory_url: MemoryUrlOpt = None,
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ask one question; the answer alone goes to stdout."""
    from chatcli.ask import run_ask

    flags = {**_llm_flags(model, llm), "memory": {"url": memory_url}}
    command = partial(
        run_ask, question=question, session=session, cont=cont, json_out=json_out, verbose=verbose
    )
    run(ctx, flags, command)


@app.command()
def sessions(
    ctx: typer.Context,
    namespace: NamespaceOpt = None,
    page: Annotated[int, typer.Option("--page", min=1, max=100, help="Page, from 1.")] = 1,
    size: Annotated[int, typer.Option("--size", min=1, max=1000, help="Sessions a page.")] = 10,
    memory_url: MemoryUrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the memory server's sessions, most recent last."""
    from chatcli.manage import list_sessions

    flags = {"memory": {"url": memory_url}}
    command = partial(list_sessions, namespace=namespace, page=page, size=size, json_out=json_out)
    run(ctx, flags, command)


@app.command()
def history(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="The session id.")],
    memory_url: MemoryUrlOpt = None,
    json_out: JsonOpt = False,
    raw: Annotated[bool, typer.Option("--raw", help="Plain text transcript.")] = False,
) -> None:
    """Show a session's summary and messages, oldest first."""
    from chatcli.manage import show_history

    flags = {"memory": {"url": memory_url}}
    run(ctx, flags, partial(show_history, session=session, json_out=json_out, raw=raw))


@app.command()
def clear(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="The session id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    namespace: NamespaceOpt = None,
    memory_url: MemoryUrlOpt = None,
) -> None:
    """Delete a session from the memory server."""
    from chatcli.manage import clear_session

    flags = {"memory": {"url": memory_url}}
    run(ctx, flags, partial(clear_session, session=session, yes=yes, namespace=namespace))


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
    model: ModelOpt = None,
    llm: LLMOpt = None,
    log_level: Annotated[str | None, typer.Option(help="critical..debug (default info).")] = None,
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
            "log_level": log_level,
        },
    }
    run(ctx, flags, run_serve, motorhead_env=True)


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
