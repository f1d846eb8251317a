"""The one place where a command's exceptions become a message and an exit status.

The CLI's own errors carry their exit status; the memory server's (chatcli.server.errors,
raised by `chatcli serve` and by the direct reads of the embedded file) are mapped here:
bad settings exit 2 like any usage error, everything else 1.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from chatcli.config import Layer, Settings, load_settings, merge_layers
from chatcli.env import Environment
from chatcli.errors import ChatcliError, ExitStatus, unexpected
from chatcli.server.errors import ServerError, SetupError


@dataclass
class Context:
    """What the top-level options leave for the command."""

    config_path: Path | None = None
    debug: bool = False
    memory_url: str | None = None
    """--memory-url given before the command's name (or after, by a command without its own)."""
    base: Environment | None = None
    """The Environment a test injects (CliRunner's `obj`); the process's own otherwise."""

    def __post_init__(self) -> None:
        self.base = _injected(self.base)

    def environment(self) -> Environment:
        return self.base if self.base is not None else Environment.from_environ()


Command = Callable[[Environment, Settings], None]
"""A command's function with its options bound (functools.partial), so a type checker
sees every option reach a parameter of that name and type."""


def run(
    ctx: typer.Context,
    flags: Layer,
    command: Command,
    motorhead_env: bool = False,
) -> None:
    """Load the settings, call `command(env, settings)`, and map failures to exit codes."""
    state = ctx.obj if isinstance(ctx.obj, Context) else Context(base=ctx.obj)
    env = state.environment()
    try:
        given = merge_layers({"memory": {"url": state.memory_url}}, flags)
        settings: Settings = load_settings(env, state.config_path, given, motorhead_env)
        command(env, settings)
    except (ChatcliError, ServerError) as exc:
        if state.debug:
            traceback.print_exc(file=env.stderr)
        print(f"chatcli: error: {exc.message}", file=env.stderr)
        raise typer.Exit(int(exit_status(exc))) from None
    except KeyboardInterrupt:
        # A terminal echoes "^C" where the cursor is; on one, write over it.
        print(("\r" if env.stderr_isatty else "") + "chatcli: interrupted", file=env.stderr)
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as exc:
        if state.debug:
            traceback.print_exc(file=env.stderr)
        else:
            print(f"chatcli: error: {unexpected(exc)}", file=env.stderr)
        raise typer.Exit(int(ExitStatus.ERROR)) from None


def exit_status(exc: ChatcliError | ServerError) -> ExitStatus:
    if isinstance(exc, ChatcliError):
        return exc.exit_status
    return ExitStatus.USAGE if isinstance(exc, SetupError) else ExitStatus.ERROR


def _injected(obj: object) -> Environment | None:
    """CliRunner's `obj`, when a test passes an Environment; anything else means none."""
    return obj if isinstance(obj, Environment) else None
