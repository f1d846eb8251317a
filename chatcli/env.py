"""The world a command runs in, passed down instead of read from globals.

Tests build an `Environment` with their own streams, environ and directories, so no
test patches `sys`, `os.environ` or platformdirs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def _default_config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("chatcli", appauthor=False))


def _default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("chatcli", appauthor=False))


@dataclass
class Environment:
    """The streams, environ and directories of a command.

    Which streams are terminals is decided once, here, when the command starts: later
    the answer could change under it (a library redirecting the process's fds for a
    moment), and the REPL's Markdown and prompt must not follow such a moment.
    """

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config_dir: Path = field(default_factory=_default_config_dir)
    data_dir: Path = field(default_factory=_default_data_dir)
    stdin_isatty: bool = field(init=False)
    stdout_isatty: bool = field(init=False)
    stderr_isatty: bool = field(init=False)

    def __post_init__(self) -> None:
        self.stdin_isatty = _isatty(self.stdin)
        self.stdout_isatty = _isatty(self.stdout)
        self.stderr_isatty = _isatty(self.stderr)

    @property
    def no_color(self) -> bool:
        return bool(self.environ.get("NO_COLOR"))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """Directories follow CHATCLI_CONFIG_DIR / CHATCLI_DATA_DIR when set (tests, containers)."""
        environ = dict(os.environ if environ is None else environ)
        kwargs: dict = {"environ": environ}
        if environ.get("CHATCLI_CONFIG_DIR"):
            kwargs["config_dir"] = Path(environ["CHATCLI_CONFIG_DIR"])
        if environ.get("CHATCLI_DATA_DIR"):
            kwargs["data_dir"] = Path(environ["CHATCLI_DATA_DIR"])
        return cls(**kwargs)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
