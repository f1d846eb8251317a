"""How chatcli's command line behaves around Click: one-line usage errors, and the global
options (`--config`, `--debug`, `--memory-url`) accepted before or after a command's name.

Typer builds its Click groups from `ChatcliGroup` (`cls=`), so the installed command and
a test's `CliRunner().invoke(app, ...)` behave the same. Only Typer (and the Click it
uses: its own copy since Typer 0.29) is imported here: `--help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from typer.core import TyperGroup, TyperOption

try:
    from typer._click import Command, Context, echo
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # Typer before 0.29 uses Click itself
    from click import Command, Context, echo  # type: ignore[assignment]
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]


class OneLineUsageError(UsageError):
    """Click's usage error shown as chatcli shows every error: one line, naming the problem
    and where the help is, exit 2 (Click's own is three lines: usage, hint, error)."""

    def __init__(self, original: UsageError) -> None:
        super().__init__(usage_problem(original.format_message()), original.ctx)

    def show(self, file: Any = None) -> None:
        where = f" (see {self.ctx.command_path} --help)" if self.ctx is not None else ""
        echo(f"chatcli: error: {self.message}{where}", file=file, err=file is None)


def usage_problem(message: str) -> str:
    """Click's sentence as the rest of a `chatcli: error:` line: lower-case start, no final
    period, one line."""
    text = " ".join(message.split())
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    return text.removesuffix(".")


@contextmanager
def one_line_usage() -> Iterator[None]:
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except OneLineUsageError:
        raise
    except UsageError as exc:
        raise OneLineUsageError(exc) from None


class ChatcliGroup(TyperGroup):
    """The root group (and `config`): every usage error below it becomes one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        with one_line_usage():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        with one_line_usage():
            return super().invoke(ctx)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(self, ctx, args)
        return super().parse_args(ctx, args)


GLOBAL_OPTIONS = {"--config": True, "--debug": False, "--memory-url": True}
"""The root's options a user may also give after a command's name, and whether each
takes a value."""


def hoist_global_options(group: TyperGroup, ctx: Context, args: list[str]) -> list[str]:
    """`args` with every global option found after the command's name moved in front of
    it, where the root parses it: `chatcli sessions --config X` is `chatcli --config X
    sessions`. The walk follows the commands named and skips their options' values, so a
    value that looks like a global option stays the value it is; `--` ends it."""
    moved: list[str] = []
    kept: list[str] = []
    command: Command = group
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            kept += args[i:]
            break
        if token.startswith("-") and token != "-":
            name, eq, _ = token.partition("=")
            if command is not group and name in GLOBAL_OPTIONS:
                width = 2 if GLOBAL_OPTIONS[name] and not eq else 1
                moved += args[i : i + width]
                i += width
                continue
            width = 2 if _takes_value(command, name) and not eq else 1
            kept += args[i : i + width]
            i += width
            continue
        if isinstance(command, TyperGroup):
            command = command.get_command(ctx, token) or command
        kept.append(token)
        i += 1
    return moved + kept


def _takes_value(command: Command, name: str) -> bool:
    for param in command.params:
        if isinstance(param, TyperOption) and name in (*param.opts, *param.secondary_opts):
            return not param.is_flag and not param.count
    return False
