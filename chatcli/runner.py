"""The one place where a command's exceptions become a message and an exit status."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from chatcli.config import Layer, Settings, load_settings
from chatcli.env import Environment
from chatcli.errors import ChatcliError, ExitStatus


@dataclass
class Context:
    """What the top-level options leave for the command; `base` is an Environment a test injects."""

    config_path: Path | None = None
    debug: bool = False
    base: Any = None

    def environment(self) -> Environment:
        if isinstance(self.base, Environment):
            return self.base
        return Environment.from_environ()


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
    state: Context = ctx.obj if isinstance(ctx.obj, Context) else Context(base=ctx.obj)
    env = state.environment()
    try:
        settings: Settings = load_settings(env, state.config_path, flags, motorhead_env)
        command(env, settings)
    except ChatcliError as exc:
        if state.debug:
            traceback.print_exc(file=env.stderr)
        print(f"chatcli: error: {exc.message}", file=env.stderr)
        raise typer.Exit(int(exc.exit_status)) from None
    except KeyboardInterrupt:
        print("chatcli: interrupted", file=env.stderr)
        raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as exc:
        if state.debug:
            traceback.print_exc(file=env.stderr)
        else:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            print(
                f"chatcli: error: unexpected {type(exc).__name__}: {detail} "
                "(run with --debug for the traceback)",
                file=env.stderr,
            )
        raise typer.Exit(int(ExitStatus.ERROR)) from None
