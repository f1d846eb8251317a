"""Fixtures shared by every test: real servers, started once per session, on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.procs import (
    RedisClusterServer,
    RedisServer,
    redis_binary,
    redis_cli_binary,
    redis_cluster,
    redis_server,
    redis_version,
)
from tests.support.scripted_openai import ScriptedOpenAI


def pytest_report_header() -> str:
    """Which real server the Redis tests ran against, Debian's Redis or the bundled Valkey."""
    try:
        binary = redis_binary()
    except RuntimeError as exc:
        return f"redis server: none ({exc})"
    return f"redis server: {binary} ({redis_version(binary)})"


CHAOS_REPORTS = pytest.StashKey[list[str]]()
"""What each chaos test tried and found, printed after the run (tests/server/test_chaos.py)."""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[CHAOS_REPORTS] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    reports = config.stash[CHAOS_REPORTS]
    if reports:
        terminalreporter.section("chaos: what was tried and what was lost")
        for line in reports:
            terminalreporter.write_line(line)


@pytest.fixture
def chaos_report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line for the run's chaos summary, under the test's name."""
    reports = request.config.stash[CHAOS_REPORTS]
    return lambda line: reports.append(f"{request.node.name}: {line}")


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisServer]:
    """One real redis-server for the whole run; tests flush it or use their own keys."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster_proc() -> Iterator[RedisClusterServer]:
    """One real Redis Cluster for the whole run (three masters, a replica each), started
    the first time a test asks for it; tests flush it or use their own keys."""
    if redis_cli_binary() is None:
        pytest.skip("no redis-cli (or valkey-cli) on PATH to create a Redis Cluster with")
    with redis_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def scripted_llm_server() -> Iterator[ScriptedOpenAI]:
    server = ScriptedOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def scripted_llm(scripted_llm_server: ScriptedOpenAI) -> Iterator[ScriptedOpenAI]:
    """The session's scripted OpenAI-compatible server, with a clean script for this test."""
    scripted_llm_server.reset()
    yield scripted_llm_server
    scripted_llm_server.reset()
