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


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: a new httpx client per request costs more than the request."""
    with httpx.Client(timeout=10) as client:
        yield client


def post(
    http: httpx.Client, server: ServeProcess, session: str, messages: list[dict], **params: str
) -> None:
    response = http.post(
        f"{server.url}/sessions/{session}/memory",
        json={"messages": messages},
        params=params,
    )
    assert response.status_code == 200, response.text


def memory(http: httpx.Client, server: ServeProcess, session: str) -> dict:
    response = http.get(f"{server.url}/sessions/{session}/memory")
    assert response.status_code == 200, response.text
    return response.json()


def sessions(http: httpx.Client, server: ServeProcess, namespace: str) -> list[str]:
    response = http.get(f"{server.url}/sessions", params={"namespace": namespace, "size": 50})
    assert response.status_code == 200, response.text
    return response.json()


def wait_until_within_window(raw: redis.Redis, session: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while raw.llen(f"session:{session}") > WINDOW and time.monotonic() < deadline:
        time.sleep(0.05)
    return raw.llen(f"session:{session}")


def warm_up_summarizers(http: httpx.Client, servers: tuple, raw: redis.Redis) -> None:
    """Have each replica summarize once, so its LLM client is loaded before the real test
    and summaries overlap the writers instead of starting after them."""
    ids = [new_id("warm") for _ in servers]
    for server, sid in zip(servers, ids, strict=True):
        post(http, server, sid, [{"role": "Human", "content": "warm"}] * (WINDOW + 1))
    for sid in ids:
        assert wait_until_within_window(raw, sid) <= WINDOW


def test_a_post_through_one_replica_is_read_through_the_other(replicas, http) -> None:
    one, two = replicas
    sid = new_id()
    turn = [{"role": "Human", "content": "I am Bob"}, {"role": "AI", "content": "Hi Bob"}]
    post(http, one, sid, turn)

    assert memory(http, two, sid)["messages"] == list(reversed(turn))
    assert memory(http, two, sid) == memory(http, one, sid)


def test_both_replicas_list_the_same_sessions_in_write_order(replicas, http) -> None:
    one, two = replicas
    ns = new_id("ns")
    ids = [new_id(str(i)) for i in range(4)]
    for i, sid in enumerate(ids):
        post(http, (one, two)[i % 2], sid, [{"role": "Human", "content": "hi"}], namespace=ns)
        time.sleep(0.01)  # distinct write times, so the order is defined

    assert sessions(http, one, ns) == ids
    assert sessions(http, two, ns) == ids


def test_a_delete_through_one_replica_clears_the_session_for_both(replicas, http) -> None:
    one, two = replicas
    ns, sid = new_id("ns"), new_id()
    post(http, one, sid, [{"role": "Human", "content": "forget me"}], namespace=ns)

    response = http.delete(f"{two.url}/sessions/{sid}/memory", params={"namespace": ns})
    assert response.status_code == 200, response.text

    for server in (one, two):
        assert memory(http, server, sid) == {"messages": [], "context": None, "tokens": 0}
        assert sid not in sessions(http, server, ns)


def test_concurrent_posts_through_both_replicas_are_each_summarized_or_kept_exactly_once(
    replicas, http: httpx.Client, scripted_llm: ScriptedOpenAI, raw: redis.Redis
) -> None:
    """Both replicas compact the same busy session; the Redis lock lets one at a time, and
    the tail marker removes only what was summarized. Every message posted is then found
    exactly once: in a prompt the summarizer sent, or still in the session."""
    one, two = replicas
    sid = new_id("busy")
    scripted_llm.delay = 0.05  # a slow LLM, so POSTs keep arriving mid-summary
    scripted_llm.responder = lambda prompt: "They talked."
    warm_up_summarizers(http, replicas, raw)
    tag = uuid.uuid4().hex[:8]
    texts = [f"msg-{tag}-{w}-{i}" for w in range(8) for i in range(12)]

    def writer(w: int) -> None:
        with httpx.Client(timeout=10) as own:
            for i in range(12):
                text = f"msg-{tag}-{w}-{i}"
                post(own, (one, two)[(w + i) % 2], sid, [{"role": "Human", "content": text}])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))

    assert wait_until_within_window(raw, sid) <= WINDOW

    pattern = re.compile(rf"msg-{tag}-\d+-\d+")
    summarized = [m for r in scripted_llm.requests for m in pattern.findall(r.prompt)]
    kept = [m.decode().split(": ", 1)[1] for m in raw.lrange(f"session:{sid}", 0, -1)]
    assert sorted(summarized + kept) == sorted(texts)
    assert memory(http, two, sid)["context"] == "They talked."
