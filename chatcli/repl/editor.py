"""Writing text in the user's editor: `/edit` composes the next message (as git and llm's
chat do), `chatcli edit` changes a stored one."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from chatcli.errors import ChatcliError

FALLBACK_EDITORS = ("vi", "nano")


class EditorError(ChatcliError):
    """No editor to run, or the editor failed: nothing is sent."""


def editor_command(environ: Mapping[str, str]) -> list[str]:
    """$VISUAL, else $EDITOR (either may carry arguments, `code --wait`), else vi or nano."""
    for name in ("VISUAL", "EDITOR"):
        value = environ.get(name, "").strip()
        if value:
            return shlex.split(value)
    for editor in FALLBACK_EDITORS:
        found = shutil.which(editor, path=environ.get("PATH"))
        if found:
            return [found]
    raise EditorError("no editor: set $VISUAL or $EDITOR (or install vi or nano)")


def compose(environ: Mapping[str, str]) -> str:
    """The text the user wrote and saved in the editor, stripped ('' for none)."""
    return edit_text("", environ)


def edit_text(initial: str, environ: Mapping[str, str], *, undone: str = "nothing sent") -> str:
    """`initial` as the user left it in the editor, stripped ('' for an emptied file);
    `undone` says what a failed editor means for the command (EditorError's last words)."""
    command = editor_command(environ)
    handle, name = tempfile.mkstemp(prefix="chatcli-message-", suffix=".md")
    os.close(handle)
    path = Path(name)
    try:
        path.write_text(initial, encoding="utf-8")
        try:
            done = subprocess.run([*command, str(path)], env=dict(environ), check=False)
        except OSError as exc:
            raise EditorError(f"cannot run the editor {command[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            raise EditorError(
                f"the editor {command[0]} exited with status {done.returncode}: {undone}"
            )
        return path.read_text(encoding="utf-8", errors="replace").strip()
    finally:
        path.unlink(missing_ok=True)
