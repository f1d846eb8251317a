"""Which session a command uses: -s, -c (the last one used), or a new one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.server.validation import ID_PATTERN
from chatcli.state import last_session, new_session_id, remember_session, resolve_session


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    return Environment(environ={}, data_dir=tmp_path / "data", config_dir=tmp_path / "config")


def test_new_ids_are_readable_and_valid_on_the_server() -> None:
    ids = {new_session_id() for _ in range(50)}
    assert len(ids) == 50
    for session_id in ids:
        assert re.fullmatch(r"chat-\d{8}-[0-9a-f]{6}", session_id)
        assert ID_PATTERN.fullmatch(session_id)


def test_nothing_is_remembered_at_first(env) -> None:
    assert last_session(env) is None


def test_the_last_session_is_remembered(env) -> None:
    remember_session(env, "one")
    remember_session(env, "two")
    assert last_session(env) == "two"


def test_a_named_session_is_used_as_given(env) -> None:
    assert resolve_session(env, "bob", False) == ("bob", False)


def test_continue_uses_the_remembered_session(env) -> None:
    remember_session(env, "bob")
    assert resolve_session(env, None, True) == ("bob", False)


def test_no_session_given_makes_a_new_one(env) -> None:
    session_id, is_new = resolve_session(env, None, False)
    assert is_new and session_id.startswith("chat-")


def test_session_and_continue_together_are_refused(env) -> None:
    with pytest.raises(UsageError, match="cannot be used together"):
        resolve_session(env, "bob", True)


def test_continue_with_nothing_remembered_is_refused(env) -> None:
    with pytest.raises(UsageError, match="no session to continue"):
        resolve_session(env, None, True)
