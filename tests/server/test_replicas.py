"""Two `chatcli serve --store redis` processes on one Redis behave as one server.

This is how users scale out: stateless replicas behind a load balancer. Whatever replica
a request lands on, it sees what the others wrote, and compaction never runs twice or
loses a message (Motörhead's in-process lock cannot promise that).
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.procs import RedisServer, ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI

WINDOW = 4


def isolated_env(llm_base_url: str) -> dict[str, str]:
    """Own config and data dirs; blank out settings a developer's shell may carry."""
    home = Path(tempfile.mkdtemp(prefix="chatcli-replica-"))
    blank = ["REDIS_URL", "PORT", "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_MODEL", "OPENAI_BASE_URL"]
    return {
        **dict.fromkeys(blank, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
        "CHATCLI_LLM": "openai",
        "OPENAI_API_BASE": llm_base_url,
        "OPENAI_API_KEY": "sk-test",
    }


@pytest.fixture(scope="module")
def replicas(
    redis_proc: RedisServer, scripted_llm_server: ScriptedOpenAI
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    env = isolated_env(scripted_llm_server.base_url)
    args = ["--store", "redis", "--redis-url", redis_proc.url, "--window", str(WINDOW)]
    one = start_serve(args, env=env)
    try:
        two = start_serve(args, env=env)
    except BaseException:
        one.stop()
        raise
    yield one, two
    one.stop()
    two.stop()


@pytest.fixture
def raw(redis_proc: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_proc.port)
    yield client
    client.close()


def new_id(label: str = "r") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def post(server: ServeProcess, session: str, messages: list[dict], **params: str) -> None:
    response = httpx.post(
        f"{server.url}/sessions/{session}/memory",
        json={"messages": messages},
        params=params,
        timeout=10,
    )
    assert response.status_code == 200, response.text


def memory(server: ServeProcess, session: str) -> dict:
    response = httpx.get(f"{server.url}/sessions/{session}/memory", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def sessions(server: ServeProcess, namespace: str) -> list[str]:
    response = httpx.get(
        f"{server.url}/sessions", params={"namespace": namespace, "size": 50}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_post_through_one_replica_is_read_through_the_other(replicas) -> None:
    one, two = replicas
    sid = new_id()
    post(one, sid, [{"role": "Human", "content": "I am Bob"}, {"role": "AI", "content": "Hi Bob"}])

    assert memory(two, sid)["messages"] == [
        {"role": "AI", "content": "Hi Bob"},
        {"role": "Human", "content": "I am Bob"},
    ]
    assert memory(two, sid) == memory(one, sid)


def test_both_replicas_list_the_same_sessions_in_write_order(replicas) -> None:
    one, two = replicas
    ns = new_id("ns")
    ids = [new_id(str(i)) for i in range(4)]
    for i, sid in enumerate(ids):
        post((one, two)[i % 2], sid, [{"role": "Human", "content": "hi"}], namespace=ns)
        time.sleep(0.01)  # distinct write times, so the order is defined

    assert sessions(one, ns) == ids
    assert sessions(two, ns) == ids


def test_a_delete_through_one_replica_clears_the_session_for_both(replicas) -> None:
    one, two = replicas
    ns, sid = new_id("ns"), new_id()
    post(one, sid, [{"role": "Human", "content": "forget me"}], namespace=ns)

    response = httpx.delete(f"{two.url}/sessions/{sid}/memory", params={"namespace": ns})
    assert response.status_code == 200, response.text

    for server in (one, two):
        assert memory(server, sid) == {"messages": [], "context": None, "tokens": 0}
        assert sid not in sessions(server, ns)


def test_concurrent_posts_through_both_replicas_are_each_summarized_or_kept_exactly_once(
    replicas, scripted_llm: ScriptedOpenAI, raw: redis.Redis
) -> None:
    """Both replicas compact the same busy session; the Redis lock lets one at a time, and
    the tail marker removes only what was summarized. Every message posted is then found
    exactly once: in a prompt the summarizer sent, or still in the session."""
    one, two = replicas
    sid = new_id("busy")
    scripted_llm.delay = 0.05  # a slow LLM, so POSTs keep arriving mid-summary
    scripted_llm.responder = lambda prompt: "They talked."
    tag = uuid.uuid4().hex[:8]
    texts = [f"msg-{tag}-{w}-{i}" for w in range(8) for i in range(12)]

    def writer(w: int) -> None:
        for i in range(12):
            post((one, two)[(w + i) % 2], sid, [{"role": "Human", "content": f"msg-{tag}-{w}-{i}"}])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))

    deadline = time.monotonic() + 60
    while raw.llen(f"session:{sid}") > WINDOW and time.monotonic() < deadline:
        time.sleep(0.1)
    assert raw.llen(f"session:{sid}") <= WINDOW

    pattern = re.compile(rf"msg-{tag}-\d+-\d+")
    summarized = [m for r in scripted_llm.requests for m in pattern.findall(r.prompt)]
    kept = [m.decode().split(": ", 1)[1] for m in raw.lrange(f"session:{sid}", 0, -1)]
    assert sorted(summarized + kept) == sorted(texts)
    assert memory(two, sid)["context"] == "They talked."
