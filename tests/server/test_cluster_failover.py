"""Chaos: a Redis Cluster master killed in the middle of a write load through `chatcli serve`.

Writers POST one numbered message at a time to sessions spread over every master. After a
while one master is SIGKILLed; its replica is promoted (cluster-node-timeout 1 s) and the
writers go on. Then the dead node is started again (it rejoins as a replica), the load
runs a little longer and stops, and every session is read straight from the cluster.

What is guaranteed, and asserted: the server answers every request with 200 or a 503
JSON error (never another 5xx or a traceback), it serves writes again after the
failover, no message is stored twice, and with `--redis-wait-replicas 1` every
acknowledged write is present. Without it a write the master acknowledged but had not
yet sent to its replica is lost with the master: the test prints what was lost (on
loopback the replication stream leaves with the reply, so it is usually nothing).

Each run owns its cluster, started in the test: it is broken on purpose, so it is not
the session's shared one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis.cluster import RedisCluster

from chatcli.server.redis_layout import ClusterLayout
from tests.support.procs import redis_cli_binary, redis_cluster, start_serve

WRITERS = 6
SESSIONS_PER_WRITER = 4
STEADY = 1.5
"""Seconds of load before the kill, and again after the cluster is whole."""
OUTAGE = 4.0
"""Seconds of load after the kill, before the dead node is started again."""


@dataclass
class Tally:
    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    """Answered 503: not acknowledged, so either present or absent is correct."""
    statuses: Counter[int] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    """Answers that break the error contract: another 5xx, or a 503 that is not JSON."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def write_load(url: str, sessions: list[str], tally: Tally, stop: threading.Event) -> None:
    n = 0
    with httpx.Client(base_url=url, timeout=15) as client:
        while not stop.is_set():
            session = sessions[n % len(sessions)]
            line = f"{session}/{n}"
            n += 1
            body = {"messages": [{"role": "Human", "content": line}]}
            try:
                response = client.post(f"/sessions/{session}/memory", json=body)
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.bad.append(f"{line}: {exc!r}")
                continue
            with tally.lock:
                tally.statuses[response.status_code] += 1
                if response.status_code == 200:
                    tally.acked.add(line)
                elif response.status_code == 503 and "error" in _json(response):
                    tally.refused.add(line)
                else:
                    tally.bad.append(f"{line}: {response.status_code} {response.text[:200]}")


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@pytest.mark.parametrize("wait_replicas", [0, 1], ids=["no-wait", "wait-1"])
def test_a_master_failover_mid_load_loses_no_acknowledged_write_with_wait(
    wait_replicas: int, tmp_path: Path
) -> None:
    if redis_cli_binary() is None:
        pytest.skip("no redis-cli (or valkey-cli) on PATH to create a Redis Cluster with")
    layout = ClusterLayout()
    with redis_cluster() as cluster:
        seed = cluster.nodes[0]
        doomed = next(m for m in cluster.masters() if m is not seed)
        server = start_serve(
            [
                "--store", "redis", "--redis-url", cluster.url, "--no-summarize",
                "--redis-wait-replicas", str(wait_replicas),
            ],
            env=clean_env(tmp_path),
            log_dir=tmp_path,
        )  # fmt: skip
        tally = Tally()
        stop = threading.Event()
        sessions = [[f"f-w{w}-s{s}" for s in range(SESSIONS_PER_WRITER)] for w in range(WRITERS)]
        client = RedisCluster(host="127.0.0.1", port=seed.port)
        on_doomed = sum(
            client.get_node_from_key(layout.messages(s)).port == doomed.port
            for own in sessions
            for s in own
        )
        client.close()
        threads = [
            threading.Thread(target=write_load, args=(server.url, own, tally, stop))
            for own in sessions
        ]
        try:
            for thread in threads:
                thread.start()
            time.sleep(STEADY)
            acked_before_kill = len(tally.acked)
            doomed.kill()
            time.sleep(OUTAGE)
            doomed.restart()
            cluster.wait_healthy(timeout=30)
            recovered_at = len(tally.acked)
            time.sleep(STEADY)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            server.stop()

        client = RedisCluster(host="127.0.0.1", port=seed.port)
        stored: Counter[str] = Counter()
        for own in sessions:
            for session in own:
                for raw in client.lrange(layout.messages(session), 0, -1):
                    stored[raw.decode().removeprefix("Human: ")] += 1
        client.close()

    lost = sorted(tally.acked - set(stored))
    applied_though_refused = sorted(tally.refused & set(stored))
    print(
        f"\nfailover with --redis-wait-replicas {wait_replicas}, {on_doomed} of "
        f"{WRITERS * SESSIONS_PER_WRITER} sessions on the killed master: "
        f"statuses {dict(tally.statuses)}; {len(tally.acked)} acknowledged "
        f"({acked_before_kill} before the kill, {len(tally.acked) - recovered_at} after "
        f"recovery); {len(tally.refused)} answered 503, of which "
        f"{len(applied_though_refused)} were stored anyway; "
        f"acknowledged but lost: {len(lost)} {lost[:20]}"
    )
    assert not tally.bad, (tally.bad[:10], server.log.read_text()[-3000:])
    assert [line for line, times in stored.items() if times > 1] == []
    assert len(tally.acked) > recovered_at, "no write succeeded after the failover"
    if wait_replicas:
        assert lost == []


def clean_env(home: Path) -> dict[str, str]:
    """Own config and data dirs and none of a developer's shell settings; nothing
    summarizes, so no LLM is configured."""
    blank = ["REDIS_URL", "PORT", "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_MODEL"]
    return {
        **dict.fromkeys(blank, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
    }
