"""End to end with a real model: the bundled Gemma 270M in process (provider local), and the
same model behind llama-cpp-python's OpenAI-compatible server (provider openai)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatcli.config import LLMSettings
from tests.support.procs import free_port, wait_for_port

pytestmark = pytest.mark.local_model

LLAMA_ENV = {"CHATCLI_LLM_MAX_TOKENS": "24", "CHATCLI_LLM_TEMPERATURE": "0"}


@pytest.fixture(scope="session")
def model_path() -> Path:
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    from chatcli.local_models import local_model_path

    return local_model_path(LLMSettings())


@pytest.fixture(scope="session")
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the bundled model on loopback: its /v1 URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(model_path),
                "--model_alias", "gemma",
                "--host", "127.0.0.1",
                "--port", str(port),
                "--n_ctx", "2048",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(port, timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(30)


def test_ask_with_the_bundled_model_answers_and_stores_the_turn(cli, memory, sid, model_path):
    env = {**LLAMA_ENV, "CHATCLI_LLM_PROVIDER": "local", "CHATCLI_LLM_BASE_URL": None}
    result = cli("ask", "-s", sid, "hi im bob", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    stored = memory.memory(sid).messages
    assert stored[0] == ("Human", "hi im bob")
    assert stored[1][0] == "AI" and stored[1][1].strip() == result.stdout.strip()


def test_ask_through_llama_cpps_openai_compatible_server(cli, memory, sid, llama_server):
    env = {
        **LLAMA_ENV,
        "CHATCLI_LLM_PROVIDER": "openai",
        "CHATCLI_LLM_BASE_URL": llama_server,
        "CHATCLI_LLM_API": "completions",
        "CHATCLI_LLM_MODEL": "gemma",
    }
    result = cli("ask", "-s", sid, "hi im bob", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert [role for role, _ in memory.memory(sid).messages] == ["Human", "AI"]


LOAD_WHILE_WRITING = """
import os, sys, threading
from chatcli.config import LLMSettings
from chatcli.local_models import LocalModels

models = LocalModels()
loading = threading.Thread(target=models.load, args=(LLMSettings(provider="local"),))
writes = 0
loading.start()
while loading.is_alive() or writes == 0:
    os.write(1, b"o")
    os.write(2, b"e")
    print("p", end="", file=sys.stderr, flush=True)
    writes += 1
print(writes, flush=True)
"""


def test_a_model_loading_on_another_thread_neither_hides_nor_adds_to_what_the_process_writes(
    model_path,
):
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WHILE_WRITING], capture_output=True, text=True, check=True
    )
    writes = int(done.stdout.strip().lstrip("o"))
    assert done.stdout == "o" * writes + f"{writes}\n"
    assert done.stderr == "ep" * writes


def test_llama_cpps_server_on_the_completions_api_ends_an_answer_at_its_turn(llama_server):
    """The README's `--llm openai` path against llama.cpp's server, at the API's default
    temperature: the base model would run on past its turn into blank lines and invented
    turns up to max_tokens; the completions API's stops end it there."""
    from chatcli.llm import STOP, make_llm

    settings = LLMSettings(
        provider="openai", api="completions", base_url=llama_server, model="gemma", max_tokens=256
    )
    prompt = (
        "You are a chatbot having a conversation with a human.\n\n\n"
        "Human: whats the capital of france?\nAI:"
    )
    result = make_llm(settings, streaming=False).generate([prompt], stop=STOP)
    generation = result.generations[0][0]
    assert generation.generation_info["finish_reason"] == "stop"
    assert "\n\n" not in generation.text
    assert "Human:" not in generation.text


def test_llama_cpps_server_streams_an_answer_that_ends_at_its_turn(cli, memory, sid, llama_server):
    env = {
        "CHATCLI_LLM_MAX_TOKENS": "256",
        "CHATCLI_LLM_PROVIDER": "openai",
        "CHATCLI_LLM_BASE_URL": llama_server,
        "CHATCLI_LLM_API": "completions",
        "CHATCLI_LLM_MODEL": "gemma",
    }
    result = cli("ask", "-s", sid, "whats the capital of france?", env=env)
    assert result.exit_code == 0, result.stderr
    answer = memory.memory(sid).messages[1][1]
    assert answer.strip()
    assert "\n\n" not in answer
    assert "Human:" not in answer
