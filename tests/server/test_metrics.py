"""`GET /metrics` and `GET /ready` on the real app, served from this process.

Metrics are read back with prometheus-client's own parser, so a test checks what a
Prometheus server would scrape.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatcli.config import LLMSettings, ServerSettings
from chatcli.server.app import create_app
from chatcli.server.compactor import Compactor
from chatcli.server.redis_store import RedisStore
from chatcli.server.sqlite_store import SQLiteStore
from chatcli.server.summary_workers import LLMSummarizer
from chatcli.server.threaded import ThreadedServer
from tests.server.conftest import API_KEY, Live
from tests.support import waiting
from tests.support.procs import free_port
from tests.support.scripted_openai import ScriptedOpenAI

WINDOW = 4
WAIT = 30.0


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


wait_until = partial(waiting.wait_until, timeout=WAIT, poll=0.02)


@contextlib.contextmanager
def served(app: object) -> Iterator[httpx.Client]:
    with ThreadedServer(app) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        yield client


def test_requests_are_counted_by_route_template_never_by_raw_path(live: Live) -> None:
    session = live.new_id()
    live.client.post(f"/sessions/{session}/memory", json={"messages": []})
    live.client.get(f"/sessions/{session}/memory")
    text = live.client.get("/metrics").text
    route = "/sessions/{session_id}/memory"
    assert value(text, "chatcli_http_requests_total", method="GET", route=route, status="200") >= 1
    assert value(text, "chatcli_http_requests_total", method="POST", route=route, status="200") >= 1
    assert session not in text


def test_latency_is_a_histogram_in_seconds_by_route_and_status(live: Live) -> None:
    live.client.get(f"/sessions/{live.new_id()}/memory")
    families = {f.name: f for f in text_string_to_metric_families(live.client.get("/metrics").text)}
    family = families["chatcli_http_request_duration_seconds"]
    assert family.type == "histogram"
    labels = {frozenset(s.labels.items()) for s in family.samples if s.name.endswith("_count")}
    assert (
        frozenset(
            {"method": "GET", "route": "/sessions/{session_id}/memory", "status": "200"}.items()
        )
        in labels
    )


def test_a_request_no_route_takes_is_counted_as_unmatched(live: Live) -> None:
    live.client.get(f"/no/such/{live.new_id()}")
    text = live.client.get("/metrics").text
    assert value(text, "chatcli_http_requests_total", method="GET", route="unmatched", status="404")


def test_the_metrics_are_prometheus_text(live: Live) -> None:
    response = live.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")


def test_metrics_need_the_api_key_when_one_is_set(keyed: Live) -> None:
    assert keyed.client.get("/metrics").status_code == 401
    assert keyed.client.get("/metrics", headers={"x-api-key": API_KEY}).status_code == 200


def test_ready_is_open_without_the_api_key(keyed: Live) -> None:
    response = keyed.client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_two_apps_in_one_process_keep_their_own_counts(tmp_path: Path) -> None:
    settings = ServerSettings(window=WINDOW, summarize=False)
    one = create_app(SQLiteStore(tmp_path / "one.db"), settings, None)
    two = create_app(SQLiteStore(tmp_path / "two.db"), settings, None)
    with served(one) as first, served(two) as second:
        first.get("/sessions/a/memory")
        text = second.get("/metrics").text
    route = "/sessions/{session_id}/memory"
    assert value(text, "chatcli_http_requests_total", method="GET", route=route, status="200") == 0


@pytest.fixture
def storeless() -> Iterator[httpx.Client]:
    """A server whose Redis is not there: nothing listens on its port."""
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with served(create_app(store, ServerSettings(window=WINDOW, summarize=False), None)) as client:
        yield client


def test_ready_answers_503_json_when_the_store_does_not_answer(storeless: httpx.Client) -> None:
    response = storeless.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"error": "the redis memory store is unavailable"}


def test_a_store_that_cannot_answer_is_counted_as_a_store_error(storeless: httpx.Client) -> None:
    assert storeless.get("/sessions/a/memory").status_code == 503
    text = storeless.get("/metrics").text
    assert value(text, "chatcli_store_errors_total", source="request") == 1
    route = "/sessions/{session_id}/memory"
    assert value(text, "chatcli_http_requests_total", method="GET", route=route, status="503") == 1


# --- the compactor's metrics -----------------------------------------------------------


@pytest.fixture
def compacting(tmp_path: Path, scripted_llm: ScriptedOpenAI) -> Iterator[httpx.Client]:
    llm = LLMSettings(provider="openai", base_url=scripted_llm.base_url, api_key="t", api="chat")
    store = SQLiteStore(tmp_path / "memory.db")
    compactor = Compactor(store, WINDOW, LLMSummarizer(llm), lock_ttl=30.0, max_backoff=0.2)
    with served(create_app(store, ServerSettings(window=WINDOW), compactor)) as client:
        yield client


def post_over_the_window(client: httpx.Client, session: str) -> None:
    messages = [{"role": "Human", "content": f"m{i}"} for i in range(WINDOW + 1)]
    assert client.post(f"/sessions/{session}/memory", json={"messages": messages}).is_success


def scrape(client: httpx.Client) -> str:
    return client.get("/metrics").text


def test_a_running_summary_shows_as_running_with_the_age_of_its_wait(
    compacting: httpx.Client, scripted_llm: ScriptedOpenAI
) -> None:
    gate = threading.Event()
    scripted_llm.responder = lambda prompt: "summary" if gate.wait(WAIT) else "late"
    try:
        post_over_the_window(compacting, "s-running")
        wait_until(
            lambda: value(scrape(compacting), "chatcli_compactions_running") == 1,
            "the summary to run",
        )
        wait_until(
            lambda: value(scrape(compacting), "chatcli_summary_oldest_waiting_seconds") > 0,
            "the wait to age",
        )
    finally:
        gate.set()
    wait_until(
        lambda: value(scrape(compacting), "chatcli_summaries_total") == 1, "the summary to land"
    )
    text = scrape(compacting)
    assert value(text, "chatcli_compactions_running") == 0
    assert value(text, "chatcli_compactions_queued") == 0
    assert value(text, "chatcli_summary_oldest_waiting_seconds") == 0


def test_committed_summaries_add_their_tokens(
    compacting: httpx.Client, scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.responder = lambda prompt: "The human counted."
    post_over_the_window(compacting, "s-tokens")
    wait_until(lambda: value(scrape(compacting), "chatcli_summaries_total") == 1, "a summary")
    tokens = compacting.get("/sessions/s-tokens/memory").json()["tokens"]
    assert tokens > 0
    assert value(scrape(compacting), "chatcli_summary_tokens_total") == tokens


def test_failed_summaries_are_counted_and_so_are_their_retries(
    compacting: httpx.Client, scripted_llm: ScriptedOpenAI
) -> None:
    scripted_llm.fail_next = 10_000
    scripted_llm.responder = lambda prompt: "summary"
    post_over_the_window(compacting, "s-failing")
    wait_until(lambda: value(scrape(compacting), "chatcli_summaries_retried_total") >= 1, "a retry")
    scripted_llm.fail_next = 0
    wait_until(lambda: value(scrape(compacting), "chatcli_summaries_total") == 1, "a summary")
    text = scrape(compacting)
    assert value(text, "chatcli_summaries_failed_total") >= 1
    assert value(text, "chatcli_store_errors_total", source="compaction") == 0
