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
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config_dir: Path = field(default_factory=_default_config_dir)
    data_dir: Path = field(default_factory=_default_data_dir)

    @property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)

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
