"""`history`, `forget`, `edit`, `fork`, `rename` and `clear` on the whole transcript: each
behaviour once against a live `chatcli serve` and once on the embedded file, and what each
says against a real Motörhead (a server with only its routes)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatcli.config import ServerSettings, Settings, load_settings
from chatcli.env import Environment
from chatcli.manage import show_history
from chatcli.memory.direct import DirectClient
from chatcli.memory.http import MotorheadClient
from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import TranscriptMessage
from tests.cli.conftest import read_pty
from tests.support.light_imports import heavy_modules_imported
from tests.support.motorhead_like import MotorheadLike

DAY_MS = 86_400_000


@dataclass
class Memory:
    """The memory a test's commands use, and a client on it to seed and look."""

    client: MemoryClient
    env: dict[str, str | None]


@pytest.fixture(params=["served", "embedded"])
def held(request: pytest.FixtureRequest, memory_url: str, environ) -> Iterator[Memory]:
    if request.param == "served":
        with MotorheadClient(memory_url) as client:
            yield Memory(client, {})
        return
    db = Path(environ["CHATCLI_DATA_DIR"]) / "memory.db"
    with DirectClient(Settings(server=ServerSettings(db=str(db)))) as client:
        yield Memory(client, {"CHATCLI_MEMORY_URL": None, "CHATCLI_MEMORY_NAMESPACE": None})


@pytest.fixture
def chatcli(cli, held: Memory):
    """`cli` on the memory `held` names."""

    def invoke(*args: str, **kw):
        return cli(*args, env={**held.env, **kw.pop("env", {})}, **kw)

    return invoke


@pytest.fixture
def motorhead(cli, motorhead_like: MotorheadLike):
    """`cli` on a real Motörhead's behaviour, with session s1 holding two messages."""
    with MotorheadClient(motorhead_like.url) as client:
        client.append("s1", [("Human", "hi im bob"), ("AI", " Hi Bob.")], context="Bob came.")

    def invoke(*args: str, **kw):
        env = {"CHATCLI_MEMORY_URL": motorhead_like.url, **kw.pop("env", {})}
        return cli(*args, env=env, **kw)

    return invoke


def message(mid: str, role: str, content: str, *, ago_ms: int = 0, summarized: bool = False):
    """Stamped when the test makes it: `--since 90s` must not depend on when the module
    was collected."""
    return TranscriptMessage(mid, role, content, now_ms() - ago_ms, summarized)


def now_ms() -> int:
    return int(time.time() * 1000)


def seeded(client: MemoryClient, sid: str) -> list[TranscriptMessage]:
    """Two summarized messages from three days ago, then two of now, under a summary."""
    messages = [
        message("m1", "Human", "hi im bob", ago_ms=3 * DAY_MS, summarized=True),
        message("m2", "AI", " Hi Bob!", ago_ms=3 * DAY_MS, summarized=True),
        message("m3", "Human", "whats my name?"),
        message("m4", "AI", " Bob."),
    ]
    client.import_messages(sid, messages, context="Bob introduced himself.")
    return messages


def contents(client: MemoryClient, sid: str) -> list[str]:
    return [m.content for m in client.transcript(sid).messages]


# history


def test_history_shows_every_message_with_its_id_and_the_summary_after_those_it_covers(
    chatcli, held, sid
) -> None:
    seeded(held.client, sid)
    result = chatcli("history", sid)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "m1  Human: hi im bob\n"
        "m2  AI: Hi Bob!\n"
        "── summary of the 2 messages above ──\n"
        "Bob introduced himself.\n"
        "\n"
        "m3  Human: whats my name?\n"
        "m4  AI: Bob.\n"
    )
    assert result.stderr == ""


def test_history_keeps_the_early_turns_that_the_window_no_longer_has(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    assert "hi im bob" in chatcli("history", sid).stdout
    assert "hi im bob" not in chatcli("history", "--window", sid).stdout


def test_a_summary_with_nothing_summarized_stands_first(chatcli, held, sid) -> None:
    held.client.append(sid, [("Human", "hi")], context="Earlier, Bob said hello.")
    lines = chatcli("history", sid).stdout.splitlines()
    assert lines[:2] == ["── summary ──", "Earlier, Bob said hello."]
    assert lines[3].endswith("  Human: hi")


def test_history_json_has_the_session_summary_tokens_and_messages_with_ids_and_times(
    chatcli, held, sid
) -> None:
    messages = seeded(held.client, sid)
    data = json.loads(chatcli("history", "--json", sid).stdout)
    assert data == {
        "session": sid,
        "namespace": None,
        "summary": "Bob introduced himself.",
        "tokens": 0,
        "total": 4,
        "messages": [m.wire() for m in messages],
    }


def test_history_limit_shows_the_last_messages_and_what_the_summary_covers(
    chatcli, held, sid
) -> None:
    seeded(held.client, sid)
    assert chatcli("history", "--limit", "1", sid).stdout == (
        "── summary of 2 messages earlier ──\nBob introduced himself.\n\nm4  AI: Bob.\n"
    )


@pytest.mark.parametrize("since", ["1d", "2h", "90s"])
def test_history_since_an_age_leaves_out_older_messages(chatcli, held, sid, since) -> None:
    seeded(held.client, sid)
    data = json.loads(chatcli("history", "--json", "--since", since, sid).stdout)
    assert [m["id"] for m in data["messages"]] == ["m3", "m4"]


def test_history_since_an_iso_date_includes_that_day(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    three_days_ago = time.strftime("%Y-%m-%d", time.localtime((now_ms() - 3 * DAY_MS) / 1000))
    data = json.loads(chatcli("history", "--json", "--since", three_days_ago, sid).stdout)
    assert data["total"] == 4
    assert len(data["messages"]) == 4


def test_history_since_after_the_last_message_says_so(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("history", "--since", "2999-01-01", sid)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"no messages since 2999-01-01 in session {sid} (4 messages in all)\n"


def test_a_bad_since_is_a_one_line_usage_error(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("history", "--since", "last tuesday", sid)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "chatcli: error: invalid --since 'last tuesday': give an ISO date or time "
        "(2024-05-01, 2024-05-01T14:00) or an age like 90s, 15m, 2h, 3d, 1w\n"
    )


def test_since_with_window_is_a_usage_error(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("history", "--window", "--since", "1d", sid)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1


def test_history_in_a_pipe_is_never_paged(chatcli, held, sid) -> None:
    for n in range(40):
        held.client.append(sid, [("Human", f"line {n}")])
    result = chatcli("history", sid, env={"PAGER": "sed s/^/paged:/", "LINES": "5"})
    assert "paged:" not in result.stdout
    assert len(result.stdout.splitlines()) == 40


def terminal_history(memory_url: str, sid: str, environ: dict[str, str]) -> str:
    master, slave = os.openpty()
    with open(slave, "w", encoding="utf-8") as stdout:
        env = Environment(stdout=stdout, environ={"TERM": "xterm", **environ})
        settings = load_settings(env, flags={"memory": {"url": memory_url}})
        show_history(env, settings, session=sid, json_out=False, raw=False)
    return read_pty(master)


def test_history_taller_than_the_terminal_goes_through_the_pager(memory, memory_url, sid) -> None:
    for n in range(40):
        memory.append(sid, [("Human", f"line {n}")])
    shown = terminal_history(memory_url, sid, {"PAGER": "sed s/^/paged:/", "LINES": "10"})
    assert shown.count("paged:") == 40


def test_history_that_fits_the_terminal_is_not_paged(memory, memory_url, sid) -> None:
    memory.append(sid, [("Human", "just one")])
    shown = terminal_history(memory_url, sid, {"PAGER": "sed s/^/paged:/", "LINES": "10"})
    assert "paged:" not in shown
    assert "just one" in shown


def test_summarized_messages_are_dimmed_on_a_terminal(memory, memory_url, sid) -> None:
    seeded(memory, sid)
    lines = terminal_history(memory_url, sid, {"PAGER": ""}).splitlines()
    old = next(line for line in lines if "hi im bob" in line)
    new = next(line for line in lines if "whats my name?" in line)
    assert "\x1b[2mhi im bob" in old
    assert "whats my name?" in new
    assert "\x1b[2mwhats my name?" not in new


def test_history_of_a_motorhead_shows_its_window_with_a_note(motorhead, motorhead_like) -> None:
    result = motorhead("history", "s1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Summary: Bob came.\n\nHuman: hi im bob\nAI: Hi Bob.\n"
    assert result.stderr == (
        f"note: the memory server at {motorhead_like.url} keeps no transcript (a Motörhead): "
        "showing its window, the summary and the latest messages\n"
    )


def test_history_since_needs_chatcli_server(motorhead) -> None:
    result = motorhead("history", "--since", "1d", "s1")
    assert result.exit_code == 1
    assert "need chatcli's memory server" in result.stderr
    assert result.stderr.count("\n") == 1


# forget


def test_forget_removes_each_message_and_says_so_one_line_each(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("forget", sid, "m1", "m4")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "forgot m1 (Human: hi im bob)\nforgot m4 (AI: Bob.)\n"
    assert contents(held.client, sid) == [" Hi Bob!", "whats my name?"]


def test_forget_with_an_unknown_id_forgets_none(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("forget", sid, "m1", "nosuch")
    assert result.exit_code == 1
    assert result.stderr == (
        f"chatcli: error: no message nosuch in session {sid}: nothing forgotten "
        f"(see `chatcli history {sid}`)\n"
    )
    assert len(contents(held.client, sid)) == 4


def test_forget_a_malformed_id_is_a_usage_error(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("forget", sid, "not an id")
    assert result.exit_code == 2
    assert result.stderr.startswith('chatcli: error: invalid message id "not an id"')
    assert len(contents(held.client, sid)) == 4


def test_forget_takes_a_unique_prefix_of_the_session(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    held.client.append(sid, [("Human", "in the index")], namespace=None)
    result = chatcli("forget", sid[:-2], "m1", env={"CHATCLI_MEMORY_NAMESPACE": None})
    assert result.exit_code == 0, result.stderr
    assert "hi im bob" not in contents(held.client, sid)


# edit


def test_edit_with_content_replaces_the_message(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("edit", sid, "m3", "--content", "whats my name, again?")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "edited m3 (Human: whats my name, again?)\n"
    assert contents(held.client, sid)[2] == "whats my name, again?"


def test_an_edited_ai_message_keeps_its_leading_space(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    chatcli("edit", sid, "m4", "--content", "Robert.")
    assert contents(held.client, sid)[3] == " Robert."


def test_edit_opens_the_editor_on_the_current_content(chatcli, held, sid, tmp_path) -> None:
    seeded(held.client, sid)
    seen = tmp_path / "seen"
    editor = f'sh -c \'cp "$1" {seen}; printf "hi im Bob\\n" > "$1"\' editor'
    result = chatcli("edit", sid, "m1", env={"VISUAL": editor})
    assert result.exit_code == 0, result.stderr
    assert seen.read_text() == "hi im bob"
    assert contents(held.client, sid)[0] == "hi im Bob"


def test_an_emptied_editor_changes_nothing_and_says_so(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("edit", sid, "m1", env={"VISUAL": "sh -c ': > \"$1\"' editor"})
    assert result.exit_code == 0
    assert result.stderr == f"empty message: m1 unchanged (to remove it: chatcli forget {sid} m1)\n"
    assert contents(held.client, sid)[0] == "hi im bob"


def test_an_editor_that_fails_changes_nothing(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("edit", sid, "m1", env={"VISUAL": "false"})
    assert result.exit_code == 1
    assert result.stderr == (
        "chatcli: error: the editor false exited with status 1: nothing changed\n"
    )
    assert contents(held.client, sid)[0] == "hi im bob"


def test_edit_of_an_unknown_message_is_exit_1(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("edit", sid, "nosuch", "--content", "x")
    assert result.exit_code == 1
    assert result.stderr == (
        f"chatcli: error: no message nosuch in session {sid} (see `chatcli history {sid}`)\n"
    )


# fork and rename


def test_fork_copies_the_session_and_says_how_many_messages(chatcli, held, sid) -> None:
    messages = seeded(held.client, sid)
    result = chatcli("fork", sid, f"{sid}-b")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"forked {sid} into {sid}-b: 4 messages\n"
    assert held.client.transcript(f"{sid}-b").messages == messages


def test_fork_at_a_message_copies_up_to_it(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("fork", sid, f"{sid}-b", "--at", "m3")
    assert result.stderr == f"forked {sid} into {sid}-b: 3 messages\n"
    assert [m.id for m in held.client.transcript(f"{sid}-b").messages] == ["m1", "m2", "m3"]


def test_fork_into_a_session_with_data_is_refused_and_changes_nothing(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    held.client.append(f"{sid}-b", [("Human", "mine")])
    result = chatcli("fork", sid, f"{sid}-b")
    assert result.exit_code == 2
    assert result.stderr == (
        "chatcli: error: the memory server refused it: "
        f"409 session {sid}-b already has data: fork into a new id\n"
    )
    assert contents(held.client, f"{sid}-b") == ["mine"]


def test_fork_at_an_unknown_message_is_exit_1(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("fork", sid, f"{sid}-b", "--at", "nosuch")
    assert result.exit_code == 1
    assert result.stderr == f"chatcli: error: no message nosuch in session {sid}\n"
    assert held.client.memory(f"{sid}-b").is_empty


def test_rename_moves_the_session_to_the_new_id(chatcli, held, sid) -> None:
    messages = seeded(held.client, sid)
    result = chatcli("rename", sid, f"{sid}-new")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"renamed {sid} to {sid}-new: 4 messages\n"
    assert held.client.transcript(f"{sid}-new").messages == messages
    assert held.client.transcript(sid).messages == []
    assert held.client.memory(f"{sid}-new").summary == "Bob introduced himself."


def test_rename_of_the_last_session_makes_the_new_id_the_one_continued(
    chatcli, held, sid, environ
) -> None:
    seeded(held.client, sid)
    state = Path(environ["CHATCLI_DATA_DIR"]) / "last_session"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(f"{sid}\n", encoding="utf-8")
    assert chatcli("rename", sid, f"{sid}-new").exit_code == 0
    assert state.read_text(encoding="utf-8") == f"{sid}-new\n"


def test_rename_onto_a_session_with_data_keeps_both(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    held.client.append(f"{sid}-b", [("Human", "mine")])
    result = chatcli("rename", sid, f"{sid}-b")
    assert result.exit_code == 2
    assert "already has data" in result.stderr
    assert len(contents(held.client, sid)) == 4
    assert contents(held.client, f"{sid}-b") == ["mine"]


# clear


def test_clear_deletes_the_transcript_too(chatcli, held, sid) -> None:
    seeded(held.client, sid)
    result = chatcli("clear", "--yes", sid)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"deleted session {sid}: all 4 messages of its transcript, not only the window\n"
    )
    assert held.client.transcript(sid).messages == []


def test_clear_on_a_motorhead_deletes_its_window(motorhead, motorhead_like) -> None:
    result = motorhead("clear", "--yes", "s1")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "deleted session s1\n"
    assert "s1" not in motorhead_like.sessions


# a Motörhead has none of the message commands

MOTORHEAD_REFUSES = [
    ["forget", "s1", "m1"],
    ["edit", "s1", "m1", "--content", "x"],
    ["edit", "s1", "m1"],
    ["fork", "s1", "s2"],
    ["rename", "s1", "s2"],
]


@pytest.mark.parametrize("args", MOTORHEAD_REFUSES, ids=lambda a: " ".join(a[:1] + a[3:4]))
def test_message_commands_on_a_motorhead_say_they_need_chatcli_server_and_change_nothing(
    motorhead, motorhead_like, args
) -> None:
    before = json.dumps(motorhead_like.sessions)
    result = motorhead(*args, env={"VISUAL": "false"})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "need chatcli's memory server (`chatcli serve`), not a Motörhead" in result.stderr
    assert json.dumps(motorhead_like.sessions) == before
    assert "s2" not in motorhead_like.sessions


NEW_COMMANDS = [["forget", "nobody", "m1"], ["fork", "nobody", "other"], ["history", "nobody"]]


@pytest.mark.parametrize("args", NEW_COMMANDS, ids=[a[0] for a in NEW_COMMANDS])
def test_transcript_commands_import_no_langchain_nor_server(args, memory_url, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATCLI_", "OPENAI_"))}
    env.update(
        {
            "CHATCLI_DATA_DIR": str(tmp_path),
            "CHATCLI_CONFIG_DIR": str(tmp_path),
            "CHATCLI_MEMORY_URL": memory_url,
        }
    )
    assert heavy_modules_imported(args, env) == []
