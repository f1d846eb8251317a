"""Fixtures for the CLI's tests: a live `chatcli serve` on loopback, and commands run through
Typer's CliRunner with an environment of the test's own (directories, memory URL, the
scripted OpenAI-compatible server as the LLM)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from chatcli.cli import app
from chatcli.memory.http import MotorheadClient
from tests.support.motorhead_like import MotorheadLike
from tests.support.procs import ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI

SERVER_KEY = "memory-key-for-tests"
LLM_KEY = "llm-key-for-tests"

# Set on the machine running the tests, they would change what a command does.
UNSET = (
    "OPENAI_API_KEY",
    "OPENAI_API_BASE",
    "OPENAI_BASE_URL",
    "CHATCLI_CONFIG",
    "CHATCLI_MODEL",
    "CHATCLI_LLM",
    "CHATCLI_MEMORY_API_KEY",
    "CHATCLI_MEMORY_NAMESPACE",
    "CHATCLI_LLM_MODEL",
    "NO_COLOR",
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def read_pty(master: int) -> str:
    """Everything written to a pty whose other end is closed (a read may return a part)."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode()


@pytest.fixture(scope="session")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One `chatcli serve` child for the CLI tests; no summarizing, so no model is loaded."""
    workdir = tmp_path_factory.mktemp("cli-serve")
    served = start_serve(
        ["--db", str(workdir / "memory.db"), "--no-summarize"],
        env={"CHATCLI_DATA_DIR": str(workdir)},
        log_dir=workdir,
    )
    yield served
    served.stop()


@pytest.fixture(scope="session")
def keyed_memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A `chatcli serve` that requires SERVER_KEY in x-api-key."""
    workdir = tmp_path_factory.mktemp("cli-serve-keyed")
    served = start_serve(
        ["--db", str(workdir / "memory.db"), "--no-summarize"],
        env={"CHATCLI_DATA_DIR": str(workdir), "CHATCLI_SERVER_API_KEY": SERVER_KEY},
        log_dir=workdir,
    )
    yield served
    served.stop()


@pytest.fixture(scope="session")
def no_long_term_memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A `chatcli serve` with long-term memory off: /retrieval and /search refuse."""
    workdir = tmp_path_factory.mktemp("cli-serve-no-ltm")
    served = start_serve(
        ["--db", str(workdir / "memory.db"), "--no-summarize", "--no-long-term-memory"],
        env={"CHATCLI_DATA_DIR": str(workdir)},
        log_dir=workdir,
    )
    yield served
    served.stop()


@pytest.fixture(scope="session")
def motorhead_like_server() -> Iterator[MotorheadLike]:
    server = MotorheadLike().start()
    yield server
    server.stop()


@pytest.fixture
def motorhead_like(motorhead_like_server: MotorheadLike) -> Iterator[MotorheadLike]:
    motorhead_like_server.reset()
    yield motorhead_like_server
    motorhead_like_server.reset()


@pytest.fixture
def memory_url(memory_server: ServeProcess) -> str:
    return memory_server.url


@pytest.fixture
def memory(memory_url: str) -> Iterator[MotorheadClient]:
    """A client of the test server, to look at what the CLI stored."""
    with MotorheadClient(memory_url) as client:
        yield client


@pytest.fixture
def namespace() -> str:
    """Each test lists sessions in a namespace of its own on the shared server."""
    return f"ns-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sid() -> str:
    """A session id of this test's own."""
    return f"cli-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def environ(
    tmp_path: Path, memory_url: str, namespace: str, scripted_llm: ScriptedOpenAI
) -> dict[str, str | None]:
    """What a user's shell would hold: dirs of the test's own, the server, the scripted LLM."""
    env: dict[str, str | None] = dict.fromkeys(UNSET)
    env.update(
        {
            "CHATCLI_DATA_DIR": str(tmp_path / "data"),
            "CHATCLI_CONFIG_DIR": str(tmp_path / "config"),
            "CHATCLI_MEMORY_URL": memory_url,
            "CHATCLI_MEMORY_NAMESPACE": namespace,
            "CHATCLI_LLM_PROVIDER": "openai",
            "CHATCLI_LLM_BASE_URL": scripted_llm.base_url,
            "CHATCLI_LLM_API_KEY": LLM_KEY,
            "CHATCLI_LLM_API": "completions",
        }
    )
    return env


Invoke = Callable[..., Result]


@pytest.fixture
def cli(environ: dict[str, str | None]) -> Invoke:
    """cli("ask", "hi", input=..., env={...}) runs chatcli in-process like a shell would."""

    def invoke(*args: str, input: str | None = None, env: dict | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=input, env={**environ, **(env or {})})

    return invoke
