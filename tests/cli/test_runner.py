"""The command boundary gives the memory server's own errors the exit status of their kind."""

from __future__ import annotations

from chatcli.errors import ExitStatus, UsageError
from chatcli.runner import exit_status
from chatcli.server.errors import ServeError, SetupError, StoreUnavailable


def test_bad_server_settings_exit_2_like_any_usage_error() -> None:
    assert exit_status(SetupError("server.store must be sqlite or redis")) == ExitStatus.USAGE


def test_an_unavailable_store_exits_1() -> None:
    assert exit_status(StoreUnavailable("redis at ... is not answering")) == ExitStatus.ERROR


def test_a_server_that_cannot_listen_exits_1() -> None:
    assert exit_status(ServeError("port 8080 is in use")) == ExitStatus.ERROR


def test_the_cli_s_own_errors_keep_their_status() -> None:
    assert exit_status(UsageError("no question")) == ExitStatus.USAGE
