"""The server the CLI embeds: the same API on a loopback port, over the SQLite file that
`chatcli serve` uses, for as long as a `with` block lasts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from chatcli.config import LLMSettings, ServerSettings, Settings
from chatcli.server.embedded import EmbeddedServer
from chatcli.server.sqlite_store import SQLiteStore
from tests.support.scripted_openai import ScriptedOpenAI

HI = {"messages": [{"role": "Human", "content": "hi im bob"}, {"role": "AI", "content": "hi"}]}


def settings_for(db: Path, **server: object) -> Settings:
    return Settings(server=ServerSettings(db=str(db), **server))


def summarizing(db: Path, scripted_llm: ScriptedOpenAI) -> Settings:
    """Window 2, summaries from the scripted LLM."""
    llm = LLMSettings(provider="openai", base_url=scripted_llm.base_url, api_key="test")
    return replace(settings_for(db, window=2), llm=llm)


def post_over_the_window(url: str) -> None:
    turns = [{"role": "Human", "content": f"turn {i}"} for i in range(4)]
    httpx.post(f"{url}/sessions/bob/memory", json={"messages": turns})


def test_it_serves_the_api_on_loopback(tmp_path: Path) -> None:
    with EmbeddedServer(settings_for(tmp_path / "m.db")) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.post(f"{url}/sessions/bob/memory", json=HI).json() == {"status": "Ok"}
        got = httpx.get(f"{url}/sessions/bob/memory").json()
    assert [m["content"] for m in got["messages"]] == ["hi", "hi im bob"]


def test_what_it_stores_is_there_for_the_next_command(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "m.db")
    with EmbeddedServer(settings) as url:
        httpx.post(f"{url}/sessions/bob/memory", json=HI)
    with EmbeddedServer(settings) as url:
        got = httpx.get(f"{url}/sessions/bob/memory").json()
    assert len(got["messages"]) == 2


def test_two_at_once_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "m.db")
    with EmbeddedServer(settings) as first, EmbeddedServer(settings) as second:
        assert first != second
        httpx.post(f"{first}/sessions/shared/memory", json=HI)
        got = httpx.get(f"{second}/sessions/shared/memory").json()
    assert len(got["messages"]) == 2


def test_it_stops_listening_on_exit(tmp_path: Path) -> None:
    with EmbeddedServer(settings_for(tmp_path / "m.db")) as url:
        pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_it_asks_for_no_api_key_even_when_serve_is_configured_with_one(tmp_path: Path) -> None:
    with EmbeddedServer(settings_for(tmp_path / "m.db", api_key="for-serve-only")) as url:
        assert httpx.get(f"{url}/sessions").status_code == 200


def test_leaving_waits_for_a_summary_in_flight(
    tmp_path: Path, scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.delay = 0.5
    scripted_llm.responder = lambda _prompt: "Bob said hi."
    with EmbeddedServer(summarizing(tmp_path / "m.db", scripted_llm)) as url:
        post_over_the_window(url)
        deadline = time.monotonic() + 10
        while not scripted_llm.requests:
            assert time.monotonic() < deadline, "no summary was started"
            time.sleep(0.02)

    async def read() -> tuple[str | None, int]:
        store = SQLiteStore(tmp_path / "m.db")
        try:
            return (await store.get("bob", 10)).context, await store.count("bob")
        finally:
            await store.close()

    context, count = asyncio.run(read())
    assert context == "Bob said hi."
    assert count == 1


NO_MODEL_LOADED = textwrap.dedent(
    """
    import json, sys, httpx
    from chatcli.config import ServerSettings, Settings
    from chatcli.server.embedded import EmbeddedServer

    settings = Settings(server=ServerSettings(db=sys.argv[1]))
    with EmbeddedServer(settings) as url:
        body = {"messages": [{"role": "Human", "content": "x"}]}
        httpx.post(url + "/sessions/s/memory", json=body)
        httpx.get(url + "/sessions/s/memory")
    heavy = ["llama_cpp", "langchain_openai", "langchain_core", "redis"]
    print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
    """
)


def test_no_model_or_langchain_is_loaded_until_a_summary_is_needed(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_MODEL_LOADED, str(tmp_path / "m.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_failing_summary_is_logged_to_a_file_not_the_users_terminal(
    tmp_path: Path, scripted_llm: ScriptedOpenAI, capfd: pytest.CaptureFixture[str]
) -> None:
    scripted_llm.fail_next = 2  # the OpenAI client retries once by itself
    scripted_llm.responder = lambda _prompt: "Bob said hi."
    with EmbeddedServer(summarizing(tmp_path / "m.db", scripted_llm)) as url:
        post_over_the_window(url)
        deadline = time.monotonic() + 20
        while len(scripted_llm.requests) < 3:
            assert time.monotonic() < deadline, "the failed summary was not retried"
            time.sleep(0.02)
    log = tmp_path / "embedded-server.log"
    assert "WARNING" in log.read_text()
    assert capfd.readouterr().err == ""
