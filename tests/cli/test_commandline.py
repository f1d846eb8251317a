"""Usage errors are one line, and the global options work before or after the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatcli.cli import app
from chatcli.commandline import hoist_global_options, usage_problem

USAGE_ERRORS = [
    (["ask", "--foo"], "no such option: --foo (see chatcli ask --help)"),
    (["history"], "missing argument 'session' (see chatcli history --help)"),
    (["nosuch"], "no such command 'nosuch' (see chatcli --help)"),
    (["config", "show", "--bad"], "no such option: --bad (see chatcli config show --help)"),
    (["--bad", "sessions"], "no such option: --bad (see chatcli --help)"),
]


@pytest.mark.parametrize(("args", "line"), USAGE_ERRORS, ids=[a[0] for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_line_naming_the_problem_and_the_help(cli, args, line) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"chatcli: error: {line}\n"


@pytest.mark.parametrize(
    "args",
    [["sessions", "--page", "x"], ["sessions", "--page", "500"], ["ask", "--temperature", "hot"]],
)
def test_a_bad_number_is_one_line(cli, args) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"chatcli: error: invalid value for '{args[1]}': ")
    assert result.stderr.endswith(f" (see chatcli {args[0]} --help)\n")
    assert result.stderr.count("\n") == 1


def test_the_installed_command_says_it_in_one_line_too(tmp_path) -> None:
    code = "import sys; sys.argv[0] = 'chatcli'; from chatcli.cli import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", code, "ask", "--foo"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr == "chatcli: error: no such option: --foo (see chatcli ask --help)\n"


def test_no_command_still_shows_the_help(cli) -> None:
    result = cli()
    assert "Usage:" in result.stdout + result.stderr
    assert "Commands" in result.stdout + result.stderr


def test_the_problem_is_clicks_sentence_made_a_clause() -> None:
    assert usage_problem("Missing argument 'SESSION'.") == "missing argument 'SESSION'"
    assert usage_problem("No such option: --x\nDid you mean --y?") == (
        "no such option: --x Did you mean --y?"
    )


def test_memory_url_before_the_command(cli, memory, namespace, memory_url) -> None:
    memory.append("before-cmd", [("Human", "hi")], namespace=namespace)
    result = cli("--memory-url", memory_url, "sessions", env={"CHATCLI_MEMORY_URL": None})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("before-cmd\t")


def test_memory_url_after_the_command_beats_the_environment(cli, memory, namespace) -> None:
    result = cli("sessions", "--memory-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "http://127.0.0.1:9" in result.stderr


def test_config_after_the_command(cli, tmp_path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("")
    assert cli("config", "path", "--config", str(path)).stdout == f"{path}\n"
    result = cli("sessions", "--config", str(tmp_path / "missing.toml"))
    assert result.exit_code == 2
    assert (
        result.stderr == f"chatcli: error: config file {tmp_path / 'missing.toml'} does not exist\n"
    )


def test_debug_after_the_command_shows_the_traceback(cli, tmp_path) -> None:
    result = cli("sessions", "--debug", "--config", str(tmp_path / "missing.toml"))
    assert "Traceback" in result.stderr


def test_hoisting_moves_only_global_options_after_the_command() -> None:
    from typer.main import get_command

    group = get_command(app)
    ctx = group.make_context("chatcli", ["sessions"])
    assert hoist_global_options(group, ctx, ["sessions", "--config", "x", "--json"]) == [
        "--config",
        "x",
        "sessions",
        "--json",
    ]
    assert hoist_global_options(group, ctx, ["--debug", "config", "show", "--memory-url=u"]) == [
        "--memory-url=u",
        "--debug",
        "config",
        "show",
    ]
    assert hoist_global_options(group, ctx, ["ask", "--system", "--debug", "hi"]) == [
        "ask",
        "--system",
        "--debug",
        "hi",
    ]
    assert hoist_global_options(group, ctx, ["ask", "--", "--debug"]) == ["ask", "--", "--debug"]


def test_a_path_given_after_the_command_is_a_path(cli, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[chat]\nsystem = 'Be brief.'\n")
    result = cli("config", "show", "--json", "--config", str(path))
    assert '"system": "Be brief."' in result.stdout
