"""One real summary, end to end, by the bundled local model: offline, no API key.

Motörhead can only summarize through OpenAI (its defect 7); chatcli's server summarizes
with the same LLM settings as the CLI, including the bundled Gemma 270M. The model is
small, so the test asserts what any answer must satisfy, not its wording.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from chatcli.config import LLMSettings, ServerSettings
from chatcli.server.app import create_app
from chatcli.server.compactor import Compactor
from chatcli.server.sqlite_store import SQLiteStore
from chatcli.server.summary_workers import LLMSummarizer
from chatcli.server.threaded import ThreadedServer

WINDOW = 4
WAIT = 180.0
CONVERSATION = [
    ("Human", "hi im bob"),
    ("AI", "Hello Bob! Nice to meet you."),
    ("Human", "i love pizza"),
    ("AI", "Pizza is great!"),
    ("Human", "whats my name?"),
]


@pytest.mark.local_model
def test_the_bundled_local_model_summarizes_a_session_over_its_window(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "memory.db")
    # A short answer keeps the test quick on two cores; the prompt is Motörhead's, named here
    # since the local provider's own summaries are extractive (test_summary_strategies.py).
    summarizer = LLMSummarizer(LLMSettings(provider="local", max_tokens=48), strategy="motorhead")
    compactor = Compactor(store, WINDOW, summarizer)
    app = create_app(store, ServerSettings(window=WINDOW), compactor)
    with ThreadedServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        messages = [{"role": role, "content": content} for role, content in CONVERSATION]
        assert client.post("/sessions/bob/memory", json={"messages": messages}).is_success
        deadline = time.monotonic() + WAIT
        while compactor.busy():
            assert time.monotonic() < deadline, "the local model did not summarize in time"
            time.sleep(0.1)
        memory = client.get("/sessions/bob/memory").json()

    context = memory["context"]
    assert isinstance(context, str) and context.strip()
    assert context.strip() != "NONE"
    assert "Lemmy" not in context, "the worked example leaked into the summary"
    assert [m["content"] for m in memory["messages"]] == ["whats my name?", "Pizza is great!"]
    assert memory["tokens"] > 0
