"""What a command imported, run in a fresh interpreter: the light commands' promise that
`--help`, `sessions`, `history`, `clear` and the transcript commands start without the heavy
stack."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping

HEAVY = (
    "langchain", "langchain_core", "langchain_classic", "langchain_community",
    "langchain_openai", "openai", "llama_cpp", "fastapi", "uvicorn", "httpx", "numpy",
)  # fmt: skip


def heavy_modules_imported(args: list[str], env: Mapping[str, str]) -> list[str]:
    """The modules of HEAVY's packages loaded once `chatcli ARGS` has run, sorted."""
    code = (
        "import json, sys\n"
        "from chatcli.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, timeout=60
    )
    if not out.stdout.strip():
        raise AssertionError(f"chatcli {' '.join(args)} printed nothing: {out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])
