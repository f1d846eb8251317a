"""`chatcli export` and `chatcli import` through CliRunner: against the CLI tests' live
`chatcli serve`, the embedded default, a Motörhead, and from a SQLite-backed serve into a
Redis-backed one and back (the issue's round trip)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from chatcli.memory.http import MotorheadClient
from chatcli.memory.session import TranscriptMessage
from chatcli.transfer import header_line, message_line
from tests.support.motorhead_like import MotorheadLike
from tests.support.procs import RedisServer, ServeProcess, start_serve

EMBEDDED = {"CHATCLI_MEMORY_URL": None}


def new_id() -> str:
    return f"x-{uuid.uuid4().hex[:10]}"


def exchange(client: MotorheadClient, session: str, namespace: str, *turns: str) -> None:
    for turn in turns:
        client.append(session, [("Human", turn), ("AI", f" you said {turn}")], namespace=namespace)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def an_export(session: str, count: int, *, summary: str | None = None) -> str:
    messages = [
        TranscriptMessage(
            f"m{i:05d}", "Human" if i % 2 == 0 else "AI", f"turn {i}", 1000 + i, False
        )
        for i in range(count)
    ]
    return "\n".join([header_line(session, None, summary, 0), *map(message_line, messages)]) + "\n"


def test_export_writes_a_header_then_the_messages_oldest_first(cli, memory, namespace, sid) -> None:
    exchange(memory, sid, namespace, "one", "two")
    result = cli("export", sid)
    assert result.exit_code == 0, result.output
    header, *messages = lines(result.stdout)
    assert header == {
        "type": "session",
        "format": "chatcli-export",
        "version": 1,
        "session": sid,
        "namespace": namespace,
        "summary": None,
        "tokens": 0,
    }
    assert [(m["type"], m["role"], m["content"]) for m in messages] == [
        ("message", "Human", "one"),
        ("message", "AI", " you said one"),
        ("message", "Human", "two"),
        ("message", "AI", " you said two"),
    ]
    assert [m["id"] for m in messages] == [m.id for m in memory.transcript(sid).messages]


def test_exporting_twice_gives_the_same_bytes(cli, memory, namespace, sid) -> None:
    exchange(memory, sid, namespace, "héllo")
    assert cli("export", sid).stdout_bytes == cli("export", sid).stdout_bytes


def test_export_to_a_file_writes_what_stdout_would(cli, memory, namespace, sid, tmp_path) -> None:
    exchange(memory, sid, namespace, "one")
    out = tmp_path / "out.jsonl"
    result = cli("export", sid, "-o", str(out))
    assert (result.exit_code, result.stdout) == (0, "")
    assert out.read_bytes() == cli("export", sid, "-o", "-").stdout_bytes


def test_export_all_writes_every_session_of_the_namespace(cli, memory, namespace) -> None:
    first, second = new_id(), new_id()
    exchange(memory, first, namespace, "one")
    exchange(memory, second, namespace, "two")
    memory.append(new_id(), [("Human", "elsewhere")], namespace="another-namespace")
    result = cli("export", "--all")
    assert result.exit_code == 0, result.output
    sessions = [line["session"] for line in lines(result.stdout) if line["type"] == "session"]
    assert sorted(sessions) == sorted([first, second])


def test_export_keeps_the_summary_and_tokens(cli, memory, namespace, sid) -> None:
    memory.append(sid, [("Human", "hi")], context="Bob said hi.", namespace=namespace)
    header = lines(cli("export", sid).stdout)[0]
    assert header["summary"] == "Bob said hi."


def test_export_of_an_unknown_session_is_an_error_and_writes_nothing(cli, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    result = cli("export", "nobody-here", "-o", str(out))
    assert result.exit_code == 1
    assert "no session named nobody-here" in result.stderr
    assert not out.exists()


def test_export_needs_sessions_or_all(cli) -> None:
    result = cli("export")
    assert result.exit_code == 2
    assert result.stderr == "chatcli: error: name the sessions to export, or --all\n"


def test_export_as_markdown_is_for_reading(cli, memory, namespace, sid) -> None:
    exchange(memory, sid, namespace, "one")
    result = cli("export", sid, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# Session {sid}\n")
    assert "**Human** (" in result.stdout
    assert "): you said one" in result.stdout


def test_import_adds_the_files_messages_with_their_ids(cli, memory, tmp_path, sid) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(sid, 4, summary="They counted."))
    result = cli("import", str(file))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"session {sid}: 4 added, 0 skipped\n"
    assert [m.id for m in memory.transcript(sid).messages] == [
        "m00000",
        "m00001",
        "m00002",
        "m00003",
    ]
    assert memory.memory(sid).context == "They counted."


def test_importing_twice_adds_nothing(cli, memory, tmp_path, sid) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(sid, 4))
    cli("import", str(file))
    result = cli("import", str(file))
    assert result.stderr == f"session {sid}: 0 added, 4 skipped\n"
    assert len(memory.transcript(sid).messages) == 4


def test_import_reads_stdin_given_a_dash(cli, memory, sid) -> None:
    result = cli("import", "-", input=an_export(sid, 2))
    assert result.exit_code == 0, result.output
    assert len(memory.transcript(sid).messages) == 2


def test_an_import_larger_than_one_post_arrives_whole(cli, memory, tmp_path, sid) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(sid, 2500))
    result = cli("import", str(file))
    assert result.stderr == f"session {sid}: 2500 added, 0 skipped\n"
    page = memory.transcript(sid, limit=1000)
    assert page.messages[0].id == "m00000"


def test_import_as_renames_the_one_session(cli, memory, tmp_path, sid) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export("the-old-name", 2))
    result = cli("import", str(file), "--as", sid)
    assert result.stderr == f"session {sid}: 2 added, 0 skipped\n"
    assert len(memory.transcript(sid).messages) == 2


def test_import_as_with_several_sessions_is_a_usage_error(cli, tmp_path) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(new_id(), 1) + an_export(new_id(), 1))
    result = cli("import", str(file), "--as", "new")
    assert result.exit_code == 2
    assert "--as renames one session" in result.stderr


def test_a_malformed_file_names_its_line_and_imports_nothing(cli, memory, tmp_path) -> None:
    good, bad = new_id(), new_id()
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(good, 2) + an_export(bad, 1) + "{oops\n")
    result = cli("import", str(file))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "line 6: bad JSON" in result.stderr
    assert memory.transcript(good).messages == []


def test_a_missing_file_is_a_usage_error(cli, tmp_path) -> None:
    result = cli("import", str(tmp_path / "none.jsonl"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"chatcli: error: no file {tmp_path / 'none.jsonl'}\n",
    )


def test_the_embedded_memory_exports_and_imports(cli, tmp_path, sid) -> None:
    file = tmp_path / "in.jsonl"
    file.write_text(an_export(sid, 3))
    imported = cli("import", str(file), env=EMBEDDED)
    assert imported.stderr == f"session {sid}: 3 added, 0 skipped\n"
    assert cli("export", sid, env=EMBEDDED).stdout == file.read_text()


@pytest.mark.parametrize("args", [["export", "s1"], ["import", "FILE"]])
def test_against_a_motorhead_both_say_they_need_chatclis_server(
    cli, motorhead_like: MotorheadLike, tmp_path, args
) -> None:
    motorhead_like.sessions["s1"] = [{"role": "Human", "content": "hi"}]
    file = tmp_path / "in.jsonl"
    file.write_text(an_export("s2", 2))
    result = cli(
        *[str(file) if a == "FILE" else a for a in args],
        env={"CHATCLI_MEMORY_URL": motorhead_like.url},
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "need chatcli's memory server (`chatcli serve`)" in result.stderr
    assert "s2" not in motorhead_like.sessions


# The round trip: SQLite -> Redis -> the same bytes.


@pytest.fixture(scope="module")
def transfer_redis_serve(
    tmp_path_factory: pytest.TempPathFactory, redis_proc: RedisServer
) -> Iterator[ServeProcess]:
    workdir = tmp_path_factory.mktemp("transfer-redis")
    served = start_serve(
        ["--store", "redis", "--redis-url", redis_proc.url, "--no-summarize"],
        env={"CHATCLI_DATA_DIR": str(workdir)},
        log_dir=workdir,
    )
    yield served
    served.stop()


def test_sqlite_to_redis_and_back_is_byte_identical_and_importing_twice_adds_nothing(
    cli, namespace, memory_server, transfer_redis_serve, tmp_path
) -> None:
    sessions = [new_id(), new_id()]
    with MotorheadClient(memory_server.url) as sqlite:
        exchange(sqlite, sessions[0], namespace, "héllo", "wie geht's? 🙂", "three")
        sqlite.append(sessions[1], [("Human", "hi")], context="Bob greeted.", namespace=namespace)
    from_sqlite, from_redis = tmp_path / "sqlite.jsonl", tmp_path / "redis.jsonl"
    on_sqlite = {"CHATCLI_MEMORY_URL": memory_server.url}
    on_redis = {"CHATCLI_MEMORY_URL": transfer_redis_serve.url}

    assert cli("export", *sessions, "-o", str(from_sqlite), env=on_sqlite).exit_code == 0
    first = cli("import", str(from_sqlite), env=on_redis)
    assert first.stderr == (
        f"session {sessions[0]}: 6 added, 0 skipped\nsession {sessions[1]}: 1 added, 0 skipped\n"
    )
    assert cli("export", *sessions, "-o", str(from_redis), env=on_redis).exit_code == 0
    assert from_redis.read_bytes() == from_sqlite.read_bytes()

    again = cli("import", str(from_sqlite), env=on_redis)
    assert again.stderr == (
        f"session {sessions[0]}: 0 added, 6 skipped\nsession {sessions[1]}: 0 added, 1 skipped\n"
    )
    assert cli("export", *sessions, env=on_redis).stdout_bytes == from_sqlite.read_bytes()
