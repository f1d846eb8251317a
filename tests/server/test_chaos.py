"""Chaos, bounded and on loopback: a replica killed mid-compaction, the LLM down while
summaries are due. Each test drives real `chatcli serve` children over a real Redis, asserts
that nothing acknowledged is lost or duplicated, and reports what it tried and what it found
in pytest's terminal summary (see `chaos_report` in conftest.py).

Redis restarted under a write load is test_faults.py's; a cluster master failover is
test_cluster.py's. Durations are bounded by counts and deadlines; nothing asserts a time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest

from tests.support import waiting
from tests.support.procs import RedisServer, ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.summaries import serve_env

WINDOW = 4
SUMMARY = "They talked about numbers."
WAIT = 90.0
"""Beyond the outage's last backoff (32 s, then up to the 60 s cap)."""
OWN_DB = 14
OUTAGE = 60.0
"""A minute, as the issue asks: the compactor's backoff doubles from 0.5 s to 32 s while
writes keep arriving; the first summary after it wakes every other session's job."""


wait_until = partial(waiting.wait_until, timeout=WAIT, poll=0.05)


def transcript(served: ServeProcess, session: str) -> list[str]:
    page = httpx.get(f"{served.url}/sessions/{session}/transcript", params={"limit": 1000})
    assert page.status_code == 200, page.text
    return [m["content"] for m in page.json()["messages"]]


def memory(served: ServeProcess, session: str) -> dict:
    answer = httpx.get(f"{served.url}/sessions/{session}/memory")
    assert answer.status_code == 200, answer.text
    return answer.json()


def post(client: httpx.Client, served: ServeProcess, session: str, content: str) -> int:
    body = {"messages": [{"role": "Human", "content": content}]}
    return client.post(f"{served.url}/sessions/{session}/memory", json=body).status_code


def lost_and_duplicated(acknowledged: list[str], found: list[str]) -> tuple[list[str], list[str]]:
    counts = Counter(found)
    lost = [text for text in acknowledged if counts[text] == 0]
    duplicated = [text for text, n in counts.items() if n > 1]
    return lost, duplicated


@pytest.fixture
def chaos_redis_url(redis_proc: RedisServer) -> str:
    """Its own database: every serve resumes, at start, the sessions over the window it finds."""
    return redis_proc.own_database(OWN_DB)


@pytest.fixture
def serves(chaos_redis_url: str, scripted_llm: ScriptedOpenAI) -> Iterator[list[ServeProcess]]:
    """Two replicas of `chatcli serve` on one Redis; a test may kill one."""
    args = ["--store", "redis", "--redis-url", chaos_redis_url, "--window", str(WINDOW)]
    env = serve_env(scripted_llm)
    started: list[ServeProcess] = []
    try:
        started.append(start_serve(args, env=env))
        started.append(start_serve(args, env=env))
        yield started
    finally:
        for served in started:
            served.stop()


def test_a_replica_killed_mid_compaction_loses_nothing_and_the_other_finishes_it(
    serves: list[ServeProcess],
    scripted_llm: ScriptedOpenAI,
    chaos_report: Callable[[str], None],
) -> None:
    one, two = serves
    opened = threading.Event()
    scripted_llm.responder = lambda prompt: SUMMARY if opened.wait(WAIT) else "late"
    session = f"chaos-{uuid.uuid4().hex[:12]}"
    acknowledged = [f"m{i}" for i in range(WINDOW + 1)]
    body = {"messages": [{"role": "Human", "content": text} for text in acknowledged]}
    assert httpx.post(f"{one.url}/sessions/{session}/memory", json=body).status_code == 200
    wait_until(lambda: len(scripted_llm.requests) == 1, "replica one's summary at the LLM")
    one.kill()
    opened.set()
    # The survivor learns of the session from its next write, and takes the dead replica's
    # lock once that expires (nothing refreshes it any more).
    with httpx.Client(timeout=WAIT) as client:
        assert post(client, two, session, "after the kill") == 200
    acknowledged.append("after the kill")
    took = wait_until(lambda: memory(two, session)["context"] == SUMMARY, "the survivor's summary")
    lost, duplicated = lost_and_duplicated(acknowledged, transcript(two, session))
    chaos_report(
        f"replica killed (SIGKILL) holding the compaction lock mid-summary: "
        f"{len(acknowledged)} writes acknowledged, {len(lost)} lost, {len(duplicated)} "
        f"duplicated; the other replica summarized {took:.1f} s after its next write"
    )
    assert (lost, duplicated) == ([], [])
    assert len(memory(two, session)["messages"]) <= WINDOW


def test_an_llm_outage_while_summaries_are_due_loses_nothing_and_every_session_catches_up(
    serves: list[ServeProcess],
    scripted_llm: ScriptedOpenAI,
    chaos_report: Callable[[str], None],
) -> None:
    scripted_llm.responder = lambda prompt: SUMMARY
    scripted_llm.fail_next = 10**9  # every summary request answers 500 until the LLM is back
    tag = uuid.uuid4().hex[:8]
    sessions = [f"outage-{tag}-{s}" for s in range(4)]
    count = 5 * WINDOW
    writes = {session: [f"{session}-m{i}" for i in range(count)] for session in sessions}
    statuses: Counter[int] = Counter()

    def writer(session: str) -> None:
        with httpx.Client(timeout=WAIT) as client:
            for i, text in enumerate(writes[session]):
                statuses[post(client, serves[i % 2], session, text)] += 1
                time.sleep(OUTAGE / count)

    outage_start = time.monotonic()
    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(writer, sessions))
    failed_tries = len(scripted_llm.requests)
    outage = time.monotonic() - outage_start
    scripted_llm.fail_next = 0

    def caught_up() -> bool:
        return all(
            memory(serves[0], s)["context"] == SUMMARY
            and len(memory(serves[0], s)["messages"]) <= WINDOW
            for s in sessions
        )

    took = wait_until(caught_up, "every session summarized after the outage")
    problems = {
        session: lost_and_duplicated(writes[session], transcript(serves[1], session))
        for session in sessions
    }
    lost = sum(len(lost) for lost, _ in problems.values())
    duplicated = sum(len(dup) for _, dup in problems.values())
    chaos_report(
        f"LLM answering 500 for {outage:.1f} s under {sum(statuses.values())} writes through two "
        f"replicas: answers {dict(statuses)}, {failed_tries} summary tries failed, "
        f"{lost} lost, {duplicated} duplicated; all {len(sessions)} sessions summarized "
        f"{took:.1f} s after it came back"
    )
    assert statuses == Counter({200: sum(len(w) for w in writes.values())})
    assert (lost, duplicated) == (0, 0)
