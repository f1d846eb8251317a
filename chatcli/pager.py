"""Long output on a terminal goes through the user's pager, as git and man do.

`$PAGER` (run by the shell, so `PAGER='less -S'` works), else `less` when installed;
LESS defaults to FRX as in git: quit when it fits, keep colours, leave the text on screen.
Never in a pipe: a script gets the text itself.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import IO


def pager_command(environ: Mapping[str, str]) -> str | None:
    """None means no pager: PAGER set empty or to `cat`, or no `less` to fall back on."""
    if "PAGER" in environ:
        chosen = environ["PAGER"].strip()
        return chosen if chosen and chosen != "cat" else None
    return "less" if shutil.which("less", path=environ.get("PATH")) else None


def show(
    text: str, stream: IO[str], *, isatty: bool, height: int, environ: Mapping[str, str]
) -> None:
    """Through the pager when `stream` is a terminal `text` overflows, else as is; a pager
    the shell cannot find (status 127) leaves the text unpaged rather than unseen."""
    command = pager_command(environ) if isatty else None
    if command is None or text.count("\n") < height:
        stream.write(text)
        stream.flush()
        return
    stream.flush()
    env = {**environ, "LESS": environ.get("LESS") or "FRX"}
    try:
        done = subprocess.run(
            command, shell=True, input=text.encode(), stdout=stream, env=env, check=False
        )
    except OSError:
        done = None
    if done is None or done.returncode == 127:
        stream.write(text)
        stream.flush()
