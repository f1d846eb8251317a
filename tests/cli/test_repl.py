"""`chatcli chat` driven through Typer's CliRunner: lines on stdin, the CLI tests' memory server
on loopback (tests/cli/conftest.py), answers from the scripted OpenAI-compatible server."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from chatcli.cli import app
from chatcli.config import load_settings
from chatcli.env import Environment
from chatcli.repl.chat import SESSIONS_SHOWN
from chatcli.repl.inputs import InputSource, LineInput
from chatcli.repl.run import run_chat
from chatcli.state import last_session
from tests.support.procs import start_serve


def chat(environ: dict[str, str | None], *args: str, input: str) -> Result:
    return CliRunner().invoke(app, ["chat", *args], input=input, env=environ)


def test_answers_are_printed_in_order(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob, nice to meet you.", " Your name is Bob."]
    result = chat(environ, "-s", sid, input="hi im bob\nwhats my name?\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hi Bob, nice to meet you.\nYour name is Bob.\n"


def test_turns_are_stored_on_the_server_in_order_as_answered(
    environ, scripted_llm, memory, sid
) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    chat(environ, "-s", sid, input="hi im bob\nwhats my name?\n")
    assert memory.memory(sid).messages == [
        ("Human", "hi im bob"),
        ("AI", " Hi Bob."),
        ("Human", "whats my name?"),
        ("AI", " Bob."),
    ]


def test_the_second_turn_is_asked_with_the_first_in_its_prompt(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    chat(environ, "-s", sid, input="hi im bob\nwhats my name?\n")
    assert "Human: hi im bob\nAI:  Hi Bob.\nHuman: whats my name?\nAI:" in (
        scripted_llm.requests[-1].prompt
    )


def test_an_answer_with_many_leading_spaces_is_stored_with_one(
    environ, scripted_llm, memory, sid
) -> None:
    scripted_llm.script[:] = ["        Hello Alice.  \n", " Alice."]
    chat(environ, "-s", sid, input="hi im alice\nwhats my name?\n")
    assert memory.memory(sid).messages[1] == ("AI", " Hello Alice.")
    assert "Human: hi im alice\nAI:  Hello Alice.\nHuman: whats my name?\nAI:" in (
        scripted_llm.requests[-1].prompt
    )


def test_end_of_input_leaves_with_success(environ, scripted_llm, sid) -> None:
    result = chat(environ, "-s", sid, input="hello\n")
    assert result.exit_code == 0
    assert result.stdout == "OK\n"


def test_a_new_session_is_announced_on_stderr_with_how_to_resume(environ) -> None:
    result = chat(environ, input="/exit\n")
    assert result.exit_code == 0
    first = result.stderr.splitlines()[0]
    session_id = first.split()[1].rstrip(":")
    assert session_id.startswith("chat-")
    assert first == f"session {session_id}: resume with `chatcli chat -s {session_id}` or `-c`"
    assert result.stdout == ""


def test_continue_resumes_the_last_session_with_its_turns(environ, scripted_llm, memory) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Your name is Bob."]
    chat(environ, input="hi im bob\n")
    result = chat(environ, "-c", input="whats my name?\n")
    assert result.exit_code == 0, result.output
    assert "Human: hi im bob\nAI:  Hi Bob." in scripted_llm.requests[-1].prompt
    session_id = last_session(Environment.from_environ(environ))
    assert session_id is not None
    assert len(memory.memory(session_id).messages) == 4


def test_a_chat_left_without_a_turn_does_not_take_continue_from_the_last_one(
    environ, scripted_llm, sid
) -> None:
    scripted_llm.script[:] = [" Hi Bob."]
    chat(environ, "-s", sid, input="hi im bob\n")
    chat(environ, input="")
    result = CliRunner().invoke(app, ["ask", "-c", "whats my name?"], env=environ)
    assert result.exit_code == 0, result.output
    assert "Human: hi im bob\n" in scripted_llm.requests[-1].prompt
    assert last_session(Environment.from_environ(environ)) == sid


def test_new_without_a_turn_is_not_remembered(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", sid, input="hello\n/new\n")
    assert last_session(Environment.from_environ(environ)) == sid


def test_switching_to_a_session_with_messages_remembers_it(
    environ, scripted_llm, memory, sid
) -> None:
    other = "other-" + sid
    memory.append(other, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    chat(environ, "-s", sid, input="hello\n/session " + other + "\n")
    assert last_session(Environment.from_environ(environ)) == other


def test_switching_to_an_empty_session_is_not_remembered(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", sid, input=f"hello\n/session empty-{sid}\n")
    assert last_session(Environment.from_environ(environ)) == sid


def test_opening_a_session_with_messages_remembers_it(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    chat(environ, "-s", sid, input="")
    assert last_session(Environment.from_environ(environ)) == sid


def test_a_resumed_session_says_how_many_messages_it_holds(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", sid, input="hi im bob\n")
    result = chat(environ, "-s", sid, input="")
    assert result.stderr.splitlines()[0] == f"session {sid}: 2 messages"


def test_a_named_session_with_nothing_saved_is_announced_as_new(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="")
    assert result.stderr.splitlines()[0] == f"session {sid} (new)"


def test_session_flag_resumes_a_named_session(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob."]
    chat(environ, "-s", sid, input="hi im bob\n")
    chat(environ, "-s", "someone-else-" + sid, input="unrelated\n")
    chat(environ, "-s", sid, input="whats my name?\n")
    prompt = scripted_llm.requests[-1].prompt
    assert "Human: hi im bob" in prompt
    assert "unrelated" not in prompt


def test_an_invalid_session_id_is_a_usage_error(environ) -> None:
    result = chat(environ, "-s", "has space", input="")
    assert result.exit_code == 2
    assert result.stderr.startswith("chatcli: error: invalid session id 'has space'")


def test_continue_with_no_session_used_yet_is_a_usage_error(environ) -> None:
    result = chat(environ, "-c", input="")
    assert result.exit_code == 2
    assert result.stderr.startswith("chatcli: error: no session to continue")


def test_session_and_continue_together_are_a_usage_error(environ, sid) -> None:
    result = chat(environ, "-s", sid, "-c", input="")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1


def test_a_triple_quoted_block_is_one_message(environ, scripted_llm, memory, sid) -> None:
    chat(environ, "-s", sid, input='"""\nfirst line\n\n  third line\n"""\n')
    assert memory.memory(sid).messages[0] == ("Human", "first line\n\n  third line")


def test_double_slash_sends_a_message_that_starts_with_a_slash(
    environ, scripted_llm, memory, sid
) -> None:
    chat(environ, "-s", sid, input="//etc/hosts is a file\n")
    assert memory.memory(sid).messages[0] == ("Human", "/etc/hosts is a file")


def test_blank_lines_send_nothing(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", sid, input="\n   \n\n")
    assert scripted_llm.requests == []


def test_an_llm_failure_is_one_line_and_the_repl_goes_on(
    environ, scripted_llm, memory, sid
) -> None:
    scripted_llm.fail_next = 2
    scripted_llm.script[:] = [" still here"]
    result = chat(environ, "-s", sid, input="one\ntwo\nthree\n")
    assert result.exit_code == 0
    assert result.exception is None
    errors = [line for line in result.stderr.splitlines() if line.startswith("chatcli: error:")]
    assert errors
    assert result.stdout.endswith("\n")
    assert ("AI", " still here") in memory.memory(sid).messages
    assert ("Human", "one") not in memory.memory(sid).messages


def test_help_lists_the_commands(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/help\n")
    for command in ("/history", "/summary", "/sessions", "/session", "/new", "/clear"):
        assert command in result.stdout
    assert "/verbose" in result.stdout and "/exit" in result.stdout


@pytest.mark.parametrize(("hidden", "said"), [(1, "1 older session"), (2, "2 older sessions")])
def test_sessions_counts_the_older_ones_it_hides_in_words(
    environ, memory, namespace, sid, hidden, said
) -> None:
    for n in range(SESSIONS_SHOWN + hidden):
        memory.append(f"{sid}-{n}", [("Human", "hi")], namespace=namespace)
    result = chat(environ, "-s", f"{sid}-0", input="/sessions\n")
    assert f"{said} not shown: see `chatcli sessions`" in result.stderr.splitlines()


def test_history_shows_this_sessions_transcript(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob."]
    result = chat(environ, "-s", sid, input="hi im bob\n/history\n")
    transcript = result.stdout.split("Hi Bob.\n", 1)[1]
    assert "hi im bob" in transcript
    assert "Hi Bob." in transcript
    assert transcript.index("hi im bob") < transcript.index("Hi Bob.")


def test_history_of_an_empty_session_says_so(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/history\n")
    assert f"session {sid} has no messages yet" in result.stderr


def test_summary_before_any_says_no_summary_yet(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/summary\n")
    assert "no summary yet" in result.stderr
    assert result.stdout == ""


def test_summary_shows_the_servers_context(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "hi")], context="The human is called Bob.")
    result = chat(environ, "-s", sid, input="/summary\n")
    assert result.stdout == "The human is called Bob.\n"


def test_sessions_lists_the_servers_sessions_marking_this_one(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", "other-" + sid, input="hello\n")
    result = chat(environ, "-s", sid, input="hello\n/sessions\n")
    lines = result.stdout.splitlines()
    assert f"* {sid}" in lines
    assert f"  other-{sid}" in lines


def test_session_switches_where_turns_go(environ, scripted_llm, memory, sid) -> None:
    other = "other-" + sid
    chat(environ, "-s", sid, input=f"first\n/session {other}\nsecond\n")
    assert [c for r, c in memory.memory(sid).messages if r == "Human"] == ["first"]
    assert [c for r, c in memory.memory(other).messages if r == "Human"] == ["second"]
    assert last_session(Environment.from_environ(environ)) == other


def test_session_to_an_unknown_id_starts_it_fresh(environ, sid) -> None:
    result = chat(environ, "-s", sid, input=f"/session fresh-{sid}\n")
    assert f"session fresh-{sid} (new)" in result.stderr


def test_session_alone_prints_the_current_id(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/session\n")
    assert result.stdout == f"{sid}\n"


def test_session_with_an_invalid_id_is_refused_and_nothing_changes(
    environ, scripted_llm, memory, sid
) -> None:
    result = chat(environ, "-s", sid, input="/session a/b\nhello\n")
    assert "invalid session id 'a/b'" in result.stderr
    assert memory.memory(sid).messages[0] == ("Human", "hello")


def test_new_starts_a_fresh_session_and_remembers_it(environ, scripted_llm, memory, sid) -> None:
    result = chat(environ, "-s", sid, input="first\n/new\nsecond\n")
    announced = [line for line in result.stderr.splitlines() if line.endswith("(new)")]
    new_id = announced[-1].split()[1]
    assert new_id != sid and new_id.startswith("chat-")
    assert [c for r, c in memory.memory(new_id).messages if r == "Human"] == ["second"]
    assert last_session(Environment.from_environ(environ)) == new_id
    assert "Human: first" not in scripted_llm.requests[-1].prompt


def test_clear_deletes_the_session_on_the_server(environ, scripted_llm, memory, sid) -> None:
    result = chat(environ, "-s", sid, input="hi im bob\n/clear\n")
    assert f"cleared session {sid}" in result.stderr
    assert memory.memory(sid).messages == []


def test_after_clear_the_conversation_starts_over(environ, scripted_llm, sid) -> None:
    chat(environ, "-s", sid, input="hi im bob\n/clear\nwhats my name?\n")
    assert "hi im bob" not in scripted_llm.requests[-1].prompt


def test_verbose_toggles_the_chain_trace_on_stderr(environ, scripted_llm, sid) -> None:
    result = chat(environ, "-s", sid, input="quiet\n/verbose\nloud\n")
    assert "verbose trace on" in result.stderr
    assert result.stderr.count("Prompt after formatting") == 1
    assert "Human: loud" in result.stderr
    assert "Prompt after formatting" not in result.stdout
    assert result.stdout == "OK\nOK\n"


def test_verbose_flag_starts_with_the_trace_on_and_the_command_turns_it_off(
    environ, scripted_llm, sid
) -> None:
    result = chat(environ, "-s", sid, "--verbose", input="loud\n/verbose\nquiet\n")
    assert result.stderr.count("Prompt after formatting") == 1
    assert "verbose trace off" in result.stderr


def test_an_unknown_command_gets_a_one_line_hint_and_the_repl_goes_on(
    environ, scripted_llm, sid
) -> None:
    result = chat(environ, "-s", sid, input="/frobnicate\nhello\n")
    assert "unknown command /frobnicate: type /help for the commands" in result.stderr
    assert result.stdout == "OK\n"
    assert result.exit_code == 0


def test_quit_leaves_without_reading_further(environ, scripted_llm, sid) -> None:
    result = chat(environ, "-s", sid, input="/quit\nhello\n")
    assert result.exit_code == 0
    assert scripted_llm.requests == []


def test_lines_from_an_injected_source_are_chatted(
    tmp_path, scripted_llm, memory, sid, environ
) -> None:
    out, _ = run_with(tmp_path, environ, sid, LineInput(io.StringIO("hi im bob\n")))
    assert out == "OK\n"
    assert memory.memory(sid).messages == [("Human", "hi im bob"), ("AI", "OK")]


class ScriptedKeys:
    """An input source that replays lines, and Ctrl-C (KeyboardInterrupt) or a callable where
    the script says so: what a person at a terminal can do that a pipe cannot."""

    interactive = False

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)

    def read(self, continuation: bool = False) -> str:
        while self.steps:
            step = self.steps.pop(0)
            if step is KeyboardInterrupt:
                raise KeyboardInterrupt
            if callable(step):
                step()
                continue
            return str(step)
        raise EOFError

    def confirm(self, question: str) -> bool:
        return True


def run_with(
    tmp_path: Path, environ: dict[str, str | None], sid: str, source: InputSource
) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.StringIO(""),
        stdout=out,
        stderr=err,
        environ={name: value for name, value in environ.items() if value is not None},
        config_dir=tmp_path / "config",
        data_dir=tmp_path / "data",
    )
    run_chat(
        env, load_settings(env), session=sid, cont=False, verbose=False, raw=False,
        input_source=source,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def test_ctrl_c_inside_a_triple_quoted_block_drops_the_block(
    tmp_path, environ, scripted_llm, memory, sid
) -> None:
    source = ScriptedKeys('"""', "half a thought", KeyboardInterrupt, "hello")
    run_with(tmp_path, environ, sid, source)
    assert [c for r, c in memory.memory(sid).messages if r == "Human"] == ["hello"]


def test_a_memory_server_failure_is_one_line_and_the_repl_goes_on(
    tmp_path, environ, scripted_llm
) -> None:
    server = start_serve(["--db", str(tmp_path / "own.db"), "--no-summarize"])
    environ = {**environ, "CHATCLI_MEMORY_URL": server.url}
    try:
        source = ScriptedKeys("hello", server.kill, "are you there?", "/session")
        out, err = run_with(tmp_path, environ, "doomed", source)
    finally:
        server.stop()
    assert out == "OK\ndoomed\n"
    assert f"chatcli: error: memory server at {server.url} is not answering" in err
    assert "Traceback" not in err


def test_an_unfinished_block_at_end_of_input_is_not_sent_and_says_so(
    environ, scripted_llm, sid
) -> None:
    result = chat(environ, "-s", sid, input='"""\nnever closed\n')
    assert scripted_llm.requests == []
    assert 'unfinished """ block not sent' in result.stderr
    assert result.exit_code == 0


def fake_program(directory: Path, name: str, body: str) -> Path:
    """A real executable on a PATH of the test's own (a Python script)."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / name
    program.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    program.chmod(0o755)
    return program


def test_edit_sends_what_the_editor_saved(tmp_path, environ, scripted_llm, memory, sid) -> None:
    editor = fake_program(
        tmp_path / "bin", "editor", "open(sys.argv[-1], 'w').write('from the editor\\n')"
    )
    scripted_llm.script[:] = [" Got it."]
    result = chat({**environ, "VISUAL": None, "EDITOR": str(editor)}, "-s", sid, input="/edit\n")
    assert result.stdout == "Got it.\n"
    assert memory.memory(sid).messages[0] == ("Human", "from the editor")


def test_edit_prefers_visual_to_editor(tmp_path, environ, scripted_llm, memory, sid) -> None:
    writes = "open(sys.argv[-1], 'w').write({!r})"
    visual = fake_program(tmp_path / "bin", "visual", writes.format("from visual"))
    editor = fake_program(tmp_path / "bin", "editor", writes.format("from editor"))
    chat({**environ, "VISUAL": str(visual), "EDITOR": str(editor)}, "-s", sid, input="/edit\n")
    assert memory.memory(sid).messages[0] == ("Human", "from visual")


def test_edit_with_nothing_written_sends_nothing(tmp_path, environ, scripted_llm, sid) -> None:
    editor = fake_program(tmp_path / "bin", "editor", "pass")
    result = chat({**environ, "VISUAL": str(editor)}, "-s", sid, input="/edit\n")
    assert scripted_llm.requests == []
    assert "nothing sent: the editor left no text" in result.stderr.splitlines()


def test_edit_whose_editor_fails_sends_nothing(tmp_path, environ, scripted_llm, sid) -> None:
    editor = fake_program(
        tmp_path / "bin", "editor", "open(sys.argv[-1], 'w').write('draft'); sys.exit(3)"
    )
    result = chat({**environ, "VISUAL": str(editor)}, "-s", sid, input="/edit\n")
    assert scripted_llm.requests == []
    assert f"chatcli: error: the editor {editor} exited with status 3: nothing sent" in (
        result.stderr.splitlines()
    )


def test_edit_without_any_editor_is_one_line(tmp_path, environ, scripted_llm, sid) -> None:
    (tmp_path / "empty").mkdir()
    bare = {**environ, "VISUAL": None, "EDITOR": None, "PATH": str(tmp_path / "empty")}
    result = chat(bare, "-s", sid, input="/edit\n/session\n")
    assert "chatcli: error: no editor: set $VISUAL or $EDITOR (or install vi or nano)" in (
        result.stderr.splitlines()
    )
    assert result.stdout == f"{sid}\n"


def fake_clipboard(directory: Path, name: str, out: Path) -> None:
    """A clipboard tool that writes its arguments and what it was given to `out`."""
    body = f"open({str(out)!r}, 'w').write(repr(sys.argv[1:]) + sys.stdin.read())"
    fake_program(directory, name, body)


def test_copy_puts_the_last_answer_on_the_clipboard(tmp_path, environ, scripted_llm, sid) -> None:
    copied = tmp_path / "clipboard"
    fake_clipboard(tmp_path / "bin", "xclip", copied)
    scripted_llm.script[:] = [" First.", " Hi **Bob**.\n"]
    result = chat({**environ, "PATH": str(tmp_path / "bin")}, "-s", sid, input="one\ntwo\n/copy\n")
    assert copied.read_text() == "['-selection', 'clipboard']Hi **Bob**."
    assert "copied the last answer (11 characters) with xclip" in result.stderr.splitlines()


def test_copy_prefers_wayland_then_xclip_then_xsel_then_pbcopy(
    tmp_path, environ, scripted_llm, sid
) -> None:
    for name in ("pbcopy", "xsel", "wl-copy"):
        fake_clipboard(tmp_path / "bin", name, tmp_path / name)
    chat({**environ, "PATH": str(tmp_path / "bin")}, "-s", sid, input="one\n/copy\n")
    assert (tmp_path / "wl-copy").read_text() == "[]OK"
    assert not (tmp_path / "xsel").exists() and not (tmp_path / "pbcopy").exists()


def test_copy_in_a_resumed_session_copies_its_last_stored_answer(
    tmp_path, environ, memory, sid
) -> None:
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    fake_clipboard(tmp_path / "bin", "pbcopy", tmp_path / "clipboard")
    chat({**environ, "PATH": str(tmp_path / "bin")}, "-s", sid, input="/copy\n")
    assert (tmp_path / "clipboard").read_text() == "[]Hi Bob."


def test_copy_without_a_clipboard_says_so_in_one_line(tmp_path, environ, scripted_llm, sid) -> None:
    (tmp_path / "empty").mkdir()
    result = chat({**environ, "PATH": str(tmp_path / "empty")}, "-s", sid, input="hi\n/copy\n")
    assert (
        "chatcli: error: no clipboard here: install one of wl-copy, xclip, xsel, pbcopy"
        in result.stderr.splitlines()
    )


def test_copy_before_any_answer_says_there_is_none(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/copy\n")
    assert "no answer to copy yet" in result.stderr.splitlines()


# The whole record from the REPL: /undo, /retry, /forget, /fork, /history with ids.


def test_undo_removes_the_last_exchange_and_says_which(environ, scripted_llm, memory, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    result = chat(environ, "-s", sid, input="hi im bob\nwhats my name?\n/undo\n")
    assert 'removed the last exchange: "whats my name?" and its answer' in result.stderr
    assert memory.memory(sid).messages == [("Human", "hi im bob"), ("AI", " Hi Bob.")]
    assert [m.content for m in memory.transcript(sid).messages] == ["hi im bob", " Hi Bob."]


def test_undo_with_nothing_to_undo_says_so(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/undo\n")
    assert result.exit_code == 0
    assert f"nothing to undo: session {sid} has no message of yours" in result.stderr


def test_retry_replaces_the_last_answer(environ, scripted_llm, memory, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Hello again, Bob."]
    result = chat(environ, "-s", sid, input="hi im bob\n/retry\n")
    assert 'asking again: "hi im bob"' in result.stderr
    assert result.stdout == "Hi Bob.\nHello again, Bob.\n"
    assert memory.memory(sid).messages == [("Human", "hi im bob"), ("AI", " Hello again, Bob.")]


def test_retry_asks_without_the_answer_it_replaces(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Hello again, Bob."]
    chat(environ, "-s", sid, input="hi im bob\n/retry\n")
    assert "Hi Bob." not in scripted_llm.requests[-1].prompt


def test_a_retry_that_fails_keeps_the_earlier_exchange(environ, scripted_llm, memory, sid) -> None:
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    before = memory.transcript(sid).messages
    scripted_llm.fail_next = 10
    result = chat(environ, "-s", sid, input="/retry\n")
    assert "kept the earlier answer" in result.stderr
    assert memory.transcript(sid).messages == before


def test_retry_with_no_question_says_so(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/retry\n")
    assert f"nothing to retry: session {sid} has no question yet" in result.stderr


def test_forget_removes_one_message_by_id(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "keep"), ("Human", "drop"), ("Human", "keep too")])
    drop = memory.transcript(sid).messages[1].id
    result = chat(environ, "-s", sid, input=f"/forget {drop}\n")
    assert f"forgot message {drop}" in result.stderr
    assert [m.content for m in memory.transcript(sid).messages] == ["keep", "keep too"]


def test_forget_of_an_unknown_id_is_one_error_line_and_the_repl_goes_on(
    environ, memory, sid
) -> None:
    memory.append(sid, [("Human", "keep")])
    result = chat(environ, "-s", sid, input="/forget nosuchmessage\n/session\n")
    errors = [line for line in result.stderr.splitlines() if line.startswith("chatcli: error:")]
    assert len(errors) == 1 and "no message" in errors[0]
    assert result.stdout == f"{sid}\n"


def test_forget_without_an_id_says_how(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/forget\n")
    assert "/forget takes a message id: see /history for them" in result.stderr


def test_fork_copies_the_session_and_the_chat_goes_on_in_the_copy(
    environ, scripted_llm, memory, sid
) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Bob."]
    fork = f"{sid}-fork"
    result = chat(environ, "-s", sid, input=f"hi im bob\n/fork {fork}\nwhats my name?\n")
    assert f"forked session {sid} into {fork} (2 messages); now in session {fork}" in result.stderr
    assert len(memory.memory(sid).messages) == 2
    assert [m for _, m in memory.memory(fork).messages] == [
        "hi im bob",
        " Hi Bob.",
        "whats my name?",
        " Bob.",
    ]


def test_fork_makes_the_copy_the_session_to_continue(environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob."]
    chat(environ, "-s", sid, input=f"hi im bob\n/fork {sid}-fork\n")
    assert last_session(Environment.from_environ(environ)) == f"{sid}-fork"


def test_fork_into_a_session_with_data_is_an_error(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "one")])
    memory.append(f"{sid}-taken", [("Human", "other")])
    result = chat(environ, "-s", sid, input=f"/fork {sid}-taken\n/session\n")
    assert "already has data" in result.stderr
    assert result.stdout == f"{sid}\n"


def test_fork_to_a_bad_id_is_refused_before_any_request(environ, sid) -> None:
    result = chat(environ, "-s", sid, input="/fork has space\n")
    assert "invalid session id" in result.stderr


def test_history_shows_each_message_with_its_id(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "hi im bob"), ("AI", " Hi Bob.")])
    ids = [m.id for m in memory.transcript(sid).messages]
    result = chat(environ, "-s", sid, input="/history\n")
    assert result.stdout == f"[{ids[0]}] Human: hi im bob\n[{ids[1]}] AI: Hi Bob.\n"


def test_history_keeps_the_summary_first(environ, memory, sid) -> None:
    memory.append(sid, [("Human", "hi")], context="The human is called Bob.")
    result = chat(environ, "-s", sid, input="/history\n")
    assert result.stdout.startswith("Summary: The human is called Bob.\n\n[")


@pytest.mark.parametrize("command", ["/undo", "/retry", "/forget m1", "/fork other"])
def test_against_a_motorhead_the_record_commands_say_what_they_need(
    environ, motorhead_like, sid, command
) -> None:
    motorhead_like.sessions[sid] = [{"role": "Human", "content": "hi"}]
    env = {**environ, "CHATCLI_MEMORY_URL": motorhead_like.url}
    result = chat(env, "-s", sid, input=f"{command}\n/session\n")
    errors = [line for line in result.stderr.splitlines() if line.startswith("chatcli: error:")]
    assert len(errors) == 1
    assert "need chatcli's memory server (`chatcli serve`)" in errors[0]
    assert result.stdout == f"{sid}\n"
    assert motorhead_like.sessions[sid] == [{"role": "Human", "content": "hi"}]


def test_against_a_motorhead_history_shows_its_window(environ, motorhead_like, sid) -> None:
    motorhead_like.sessions[sid] = [{"role": "Human", "content": "hi"}]
    env = {**environ, "CHATCLI_MEMORY_URL": motorhead_like.url}
    result = chat(env, "-s", sid, input="/history\n")
    assert result.stdout == "Human: hi\n"
