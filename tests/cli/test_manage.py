"""`sessions`, `history`, `clear` and `config`: what the memory server holds, and the settings."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from chatcli.config import load_settings
from chatcli.env import Environment
from chatcli.errors import SessionNotFound
from chatcli.manage import clear_session, show_history
from chatcli.memory.http import MotorheadClient
from tests.cli.conftest import read_pty
from tests.support.light_imports import heavy_modules_imported


def seed(memory: MotorheadClient, sid: str, namespace: str | None = None, **kw) -> None:
    memory.append(
        sid,
        [("Human", "hi im bob"), ("AI", " Hi Bob, nice to meet you!")],
        namespace=namespace,
        **kw,
    )


def test_sessions_lists_ids_most_recent_first_with_counts(cli, memory, namespace) -> None:
    seed(memory, "older", namespace)
    seed(memory, "newer", namespace, context="Bob introduced himself.")
    memory.append("newer", [("Human", "bye")], namespace=namespace)
    result = cli("sessions")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "newer\t3 messages\tsummary\nolder\t2 messages\tno summary\n"
    assert result.stderr == ""


def test_the_session_just_written_is_on_the_first_page(cli, memory, namespace, sid) -> None:
    for n in range(12):
        seed(memory, f"{sid}-{n:02}", namespace)
    memory.append(f"{sid}-00", [("Human", "again")], namespace=namespace)
    result = cli("sessions")
    assert result.stdout.splitlines()[0] == f"{sid}-00\t3 messages\tno summary"
    assert len(result.stdout.splitlines()) == 10


def test_sessions_says_how_many_older_ones_there_are_and_how_to_see_them(
    cli, memory, namespace, sid
) -> None:
    for n in range(13):
        seed(memory, f"{sid}-{n:02}", namespace)
    assert cli("sessions").stderr == "3 older sessions: chatcli sessions --page 2\n"
    assert cli("sessions", "--size", "12").stderr == (
        "1 older session: chatcli sessions --page 2 --size 12\n"
    )
    last = cli("sessions", "--page", "2")
    assert last.stdout.splitlines() == [f"{sid}-{n:02}\t2 messages\tno summary" for n in (2, 1, 0)]
    assert last.stderr == ""


def test_a_page_past_the_end_says_how_many_there_are(cli, memory, namespace) -> None:
    seed(memory, "only", namespace)
    result = cli("sessions", "--page", "3")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert (
        result.stderr
        == f"no sessions on page 3: 1 session in namespace {namespace}, 1 page of 10\n"
    )


def test_sessions_json_keeps_the_servers_order_and_pages(cli, memory, namespace, sid) -> None:
    for n in (1, 2, 3):
        seed(memory, f"{sid}-{n}", namespace)
    result = cli("sessions", "--json", "--page", "1", "--size", "2")
    assert [row["id"] for row in json.loads(result.stdout)] == [f"{sid}-1", f"{sid}-2"]


def test_sessions_json(cli, memory, namespace) -> None:
    seed(memory, "one", namespace)
    result = cli("sessions", "--json")
    assert json.loads(result.stdout) == [
        {"id": "one", "messages": 2, "summary": False, "tokens": 0}
    ]


def test_sessions_pages_from_the_most_recent(cli, memory, namespace) -> None:
    for name in ("a1", "a2", "a3"):
        seed(memory, name, namespace)
    result = cli("sessions", "--page", "2", "--size", "2")
    assert result.stdout.splitlines() == ["a1\t2 messages\tno summary"]


def test_sessions_says_when_there_are_none_on_stderr(cli, namespace, memory_url) -> None:
    result = cli("sessions")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        f"no sessions in namespace {namespace} in the memory server at {memory_url}\n"
    )


def test_history_window_shows_the_summary_then_the_turns(cli, memory, sid) -> None:
    seed(memory, sid, context="Bob said hello.")
    memory.append(sid, [("Human", "whats my name?"), ("AI", " Bob.")])
    result = cli("history", "--window", sid)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Summary: Bob said hello.\n"
        "\n"
        "Human: hi im bob\n"
        "AI: Hi Bob, nice to meet you!\n"
        "Human: whats my name?\n"
        "AI: Bob.\n"
    )


def test_history_window_json_is_the_servers_data(cli, memory, sid) -> None:
    seed(memory, sid)
    result = cli("history", "--window", "--json", sid)
    assert json.loads(result.stdout) == memory.memory_raw(sid)
    assert json.loads(result.stdout)["messages"][0] == {
        "role": "AI",
        "content": " Hi Bob, nice to meet you!",
    }


def test_history_of_an_unknown_session_is_exit_1_one_line(cli, memory_url) -> None:
    result = cli("history", "nobody-here")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"chatcli: error: no session named nobody-here in the memory server at {memory_url} "
        "(see `chatcli sessions`)\n"
    )


def test_history_long_lines_are_not_wrapped_in_a_pipe(cli, memory, sid) -> None:
    long = "word " * 60
    memory.append(sid, [("Human", long)])
    assert cli("history", "--window", sid).stdout == f"Human: {long.strip()}\n"


def test_clear_with_yes_deletes_the_session(cli, memory, sid, namespace) -> None:
    seed(memory, sid, namespace)
    result = cli("clear", "--yes", sid)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"deleted session {sid}: all 2 messages of its transcript, not only the window\n"
    )
    assert memory.memory(sid).messages == []
    assert memory.sessions(namespace) == []


def test_clear_refuses_without_yes_off_a_terminal(cli, memory, sid) -> None:
    seed(memory, sid)
    result = cli("clear", sid, input="y\n")
    assert result.exit_code == 2
    assert result.stderr == (
        "chatcli: error: refusing to delete without --yes when not on a terminal\n"
    )
    assert len(memory.memory(sid).messages) == 2


def test_clear_of_an_unknown_session_is_exit_1(cli) -> None:
    result = cli("clear", "--yes", "nobody-here")
    assert result.exit_code == 1
    assert "no session named nobody-here" in result.stderr


@pytest.mark.parametrize(("answer", "kept"), [("y\n", False), ("\n", True), ("no\n", True)])
def test_clear_asks_on_a_terminal(memory, memory_url, sid, tmp_path, answer, kept) -> None:
    seed(memory, sid)
    master, slave = os.openpty()
    os.write(master, answer.encode())
    with open(slave, encoding="utf-8") as stdin, open(tmp_path / "err", "w+") as stderr:
        env = Environment(stdin=stdin, stderr=stderr, environ={}, data_dir=tmp_path)
        settings = load_settings(env, flags={"memory": {"url": memory_url}})
        clear_session(env, settings, session=sid, yes=False, namespace=None)
        stderr.seek(0)
        said = stderr.read()
    os.close(master)
    assert said.startswith(
        f"delete session {sid} (every one of its 2 messages, not only the window) "
        "from the memory server at "
    )
    assert len(memory.memory(sid).messages) == (2 if kept else 0)
    deleted = f"deleted session {sid}: all 2 messages of its transcript, not only the window\n"
    assert said.endswith(f"kept session {sid}\n" if kept else deleted)


def test_history_is_coloured_on_a_terminal_unless_no_color(memory, memory_url, sid) -> None:
    seed(memory, sid)
    outputs = {}
    for no_color in ("", "1"):
        master, slave = os.openpty()
        with open(slave, "w", encoding="utf-8") as stdout:
            env = Environment(stdout=stdout, environ={"NO_COLOR": no_color, "TERM": "xterm"})
            settings = load_settings(env, flags={"memory": {"url": memory_url}})
            show_history(env, settings, session=sid, json_out=False, raw=False)
        outputs[no_color] = read_pty(master)
    assert colours(outputs[""]) != set()
    assert colours(outputs["1"]) == set()
    assert "Hi Bob, nice to meet you!" in outputs["1"]


def colours(text: str) -> set[str]:
    """The SGR colour parameters in text (NO_COLOR allows bold and the like, not colour)."""
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        found |= {p for p in params.split(";") if p[:1] in "349" and len(p) == 2}
    return found


def test_history_raises_session_not_found_for_nothing_stored(memory_url, tmp_path) -> None:
    env = Environment(environ={}, data_dir=tmp_path)
    settings = load_settings(env, flags={"memory": {"url": memory_url}})
    with pytest.raises(SessionNotFound):
        show_history(env, settings, session="never-written", json_out=False, raw=True)


def test_config_show_masks_secrets(cli) -> None:
    result = cli("config", "show", env={"CHATCLI_MEMORY_API_KEY": "memory-secret"})
    assert result.exit_code == 0, result.stderr
    assert "llm-key-for-tests" not in result.stdout
    assert "memory-secret" not in result.stdout
    assert 'api_key = "********"' in result.stdout
    assert "[llm]" in result.stdout and "[memory]" in result.stdout


def test_config_show_json_masks_secrets(cli) -> None:
    result = cli("config", "show", "--json", env={"CHATCLI_MEMORY_API_KEY": "memory-secret"})
    data = json.loads(result.stdout)
    assert data["llm"]["api_key"] == "********"
    assert data["memory"]["api_key"] == "********"
    assert data["llm"]["provider"] == "openai"


def test_config_path_is_in_the_config_dir(cli, environ) -> None:
    result = cli("config", "path")
    assert result.stdout == str(Path(environ["CHATCLI_CONFIG_DIR"]) / "config.toml") + "\n"


def test_config_path_follows_the_config_option(cli, tmp_path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("")
    assert cli("--config", str(path), "config", "path").stdout == f"{path}\n"


def test_a_bad_config_file_is_exit_2_one_line(cli, environ) -> None:
    config = Path(environ["CHATCLI_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[llm\nprovider = 'openai'\n")
    result = cli("sessions")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"chatcli: error: config file {config} is not valid TOML: ")
    assert result.stderr.count("\n") == 1


def test_an_unknown_config_key_is_exit_2(cli, environ) -> None:
    config = Path(environ["CHATCLI_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[memory]\nurll = 'http://x'\n")
    result = cli("history", "x")
    assert result.exit_code == 2
    assert result.stderr == (
        "chatcli: error: unknown config key memory.urll: see config.example.toml for the keys\n"
    )


COMMANDS = [["sessions"], ["history", "nobody"], ["clear", "-y", "nobody"]]


@pytest.mark.parametrize("embedded", [False, True], ids=["memory-url", "embedded"])
@pytest.mark.parametrize("args", COMMANDS, ids=[a[0] for a in COMMANDS])
def test_management_commands_import_no_langchain_nor_server(
    args, embedded, memory_url, tmp_path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATCLI_", "OPENAI_"))}
    env.update({"CHATCLI_DATA_DIR": str(tmp_path), "CHATCLI_CONFIG_DIR": str(tmp_path)})
    if not embedded:
        env["CHATCLI_MEMORY_URL"] = memory_url
    assert heavy_modules_imported(args, env) == []


def test_embedded_sessions_history_and_clear_use_the_data_dirs_file(
    cli, scripted_llm, environ, sid
) -> None:
    embedded = {"CHATCLI_MEMORY_URL": None, "CHATCLI_MEMORY_NAMESPACE": None}
    scripted_llm.script[:] = [" Hi Bob."]
    assert cli("ask", "-s", sid, "hi im bob", env=embedded).exit_code == 0
    assert cli("sessions", env=embedded).stdout == f"{sid}\t2 messages\tno summary\n"
    assert cli("history", "--window", sid, env=embedded).stdout == (
        "Human: hi im bob\nAI: Hi Bob.\n"
    )
    assert cli("clear", "-y", sid, env=embedded).exit_code == 0
    assert cli("sessions", env=embedded).stdout == ""


def test_embedded_history_of_an_unknown_session_names_the_file(cli, environ) -> None:
    result = cli("history", "nobody", env={"CHATCLI_MEMORY_URL": None})
    db = Path(environ["CHATCLI_DATA_DIR"]) / "memory.db"
    assert result.exit_code == 1
    assert result.stderr == (
        f"chatcli: error: no session named nobody in the embedded memory at {db} "
        "(see `chatcli sessions`)\n"
    )


BAD_ID = (
    "chatcli: error: invalid session id 'bad id': use 1-256 ASCII letters, digits or -_.:@, "
    "starting with a letter or digit\n"
)
ID_COMMANDS = [
    ["history", "bad id"],
    ["clear", "-y", "bad id"],
    ["ask", "-s", "bad id", "hi"],
    ["chat", "-s", "bad id"],
]


@pytest.mark.parametrize("embedded", [False, True], ids=["memory-url", "embedded"])
@pytest.mark.parametrize("args", ID_COMMANDS, ids=[a[0] for a in ID_COMMANDS])
def test_a_bad_session_id_is_refused_in_one_wording_by_every_command(cli, args, embedded) -> None:
    result = cli(*args, input="", env={"CHATCLI_MEMORY_URL": None} if embedded else {})
    assert result.exit_code == 2
    assert result.stderr == BAD_ID


def test_the_wording_is_the_servers(memory_url) -> None:
    from chatcli.errors import UsageError
    from chatcli.memory.http import MotorheadClient

    with MotorheadClient(memory_url) as client, pytest.raises(UsageError) as refused:
        client.memory("bad id")
    assert BAD_ID.removeprefix("chatcli: error: ").strip().replace("'bad id'", "") in (
        refused.value.message.replace('"bad id"', "")
    )


def test_config_show_says_the_local_model_is_in_use_not_llm_model(cli, tmp_path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"x")
    local = {
        "CHATCLI_LLM_PROVIDER": None,
        "CHATCLI_LLM_BASE_URL": None,
        "CHATCLI_LLM_API_KEY": None,
        "CHATCLI_LLM_LOCAL_MODEL_PATH": str(model),
    }
    result = cli("config", "show", env=local)
    lines = result.stdout.splitlines()
    assert lines[1] == "# in use: provider local, model tiny.gguf"
    assert lines[2] == f"# local model file at {model} (ready)"
    data = json.loads(cli("config", "show", "--json", env=local).stdout)
    assert data["in_use"] == {
        "provider": "local",
        "model": "tiny.gguf",
        "local_model_path": str(model),
        "local_model_state": "ready",
    }


def test_config_show_names_the_openai_model_when_openai_is_in_use(cli) -> None:
    result = cli("config", "show")
    assert result.stdout.splitlines()[1] == "# in use: provider openai, model gpt-4o-mini"
