"""`/copy`: the last answer to the system clipboard, through whichever tool the system has."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping

from chatcli.errors import ChatcliError

CLIPBOARDS = (
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "-b"),
    ("pbcopy",),
)
"""In order of preference: Wayland, X11 (two tools), macOS."""


class ClipboardError(ChatcliError):
    """No clipboard tool, or the tool failed."""


def clipboard_command(environ: Mapping[str, str]) -> list[str]:
    for command in CLIPBOARDS:
        found = shutil.which(command[0], path=environ.get("PATH"))
        if found:
            return [found, *command[1:]]
    tools = ", ".join(command[0] for command in CLIPBOARDS)
    raise ClipboardError(f"no clipboard here: install one of {tools}")


def copy(text: str, environ: Mapping[str, str]) -> str:
    """Put `text` on the clipboard; the tool's name, for telling the user."""
    command = clipboard_command(environ)
    name = command[0].rsplit("/", 1)[-1]
    # xclip and wl-copy stay behind to serve the clipboard, holding any pipe they were
    # given: their stderr goes to a file, so waiting for them ends when they exit.
    with tempfile.TemporaryFile("w+") as errors:
        try:
            done = subprocess.run(
                command,
                input=text,
                text=True,
                env=dict(environ),
                stdout=subprocess.DEVNULL,
                stderr=errors,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClipboardError(f"cannot run {name}: {exc}") from None
        errors.seek(0)
        why = errors.read().strip().splitlines()
    if done.returncode != 0:
        detail = f": {why[0]}" if why else ""
        raise ClipboardError(f"{name} exited with status {done.returncode}{detail}")
    return name
