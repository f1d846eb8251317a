"""`chatcli chat` on a real pseudo-terminal (pexpect): what a person at a keyboard meets.

Every wait is for something to appear (generous timeouts), never for time to pass.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from chatcli.env import Environment
from tests.support.procs import ServeProcess, start_serve
from tests.support.scripted_openai import ScriptedOpenAI

REPO = Path(__file__).resolve().parents[2]
WAIT = 30
PROMPT = re.compile(r">\x08?(?: |\x1b\[\d*C)")
"""prompt_toolkit draws "> " as ">" then a cursor move, not a space."""
UP = "\x1b[A"
ALT_ENTER = "\x1b\r"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    db = tmp_path_factory.mktemp("pty-memory") / "memory.db"
    server = start_serve(["--db", str(db), "--no-summarize"])
    yield server
    server.stop()


@pytest.fixture
def pty_environ(
    tmp_path: Path, serve: ServeProcess, scripted_llm: ScriptedOpenAI
) -> dict[str, str]:
    """A whole process environment for a child on a pty (unlike the CLI tests' `environ`, which
    CliRunner lays over this process's own), with a terminal type and no cursor queries."""
    return {
        **os.environ,
        "CHATCLI_DATA_DIR": str(tmp_path / "data"),
        "CHATCLI_CONFIG_DIR": str(tmp_path / "config"),
        "CHATCLI_MEMORY_URL": serve.url,
        "CHATCLI_LLM_PROVIDER": "openai",
        "CHATCLI_LLM_BASE_URL": scripted_llm.base_url,
        "CHATCLI_LLM_API_KEY": "x",
        "NO_COLOR": "1",
        "TERM": "xterm",
        # A pty has no terminal emulator to answer prompt_toolkit's cursor position queries.
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }


def spawn(environ: dict[str, str], *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "chatcli", "chat", *args],
        env=environ,
        cwd=str(REPO),
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=WAIT,
    )
    child.expect(PROMPT)
    return child


def answered(child: pexpect.spawn, pattern: str) -> None:
    """Wait for the answer, then for the next prompt (keys sent before it may be dropped)."""
    child.expect(pattern)
    child.expect(PROMPT)


def leave(child: pexpect.spawn) -> int:
    """Ctrl-D at a prompt already shown; the exit status."""
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def humans(serve: ServeProcess, session_id: str) -> list[str]:
    data = httpx.get(f"{serve.url}/sessions/{session_id}/memory").json()
    return [m["content"] for m in reversed(data["messages"]) if m["role"] == "Human"]


def remember_bob(serve: ServeProcess, session_id: str) -> None:
    body = {
        "messages": [{"role": "Human", "content": "hi im bob"}, {"role": "AI", "content": " Hi"}]
    }
    httpx.post(f"{serve.url}/sessions/{session_id}/memory", json=body).raise_for_status()


def test_the_prompt_shows_and_an_answer_streams(pty_environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi **Bob**, nice to meet you."]
    child = spawn(pty_environ, "-s", sid)
    child.sendline("hi im bob")
    answered(child, "nice to meet you")
    assert leave(child) == 0


def test_the_answer_is_rendered_as_markdown_on_a_terminal(pty_environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Here:\n\n- **first**\n- second\n"]
    child = spawn(pty_environ, "-s", sid)
    child.sendline("list")
    child.expect(r"• .*first")
    assert "**" not in child.before + child.after
    child.expect(PROMPT)
    leave(child)


def test_raw_shows_the_answer_as_written_on_a_terminal(pty_environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" Hi **Bob**."]
    child = spawn(pty_environ, "-s", sid, "--raw")
    child.sendline("hi im bob")
    answered(child, re.escape("Hi **Bob**."))
    leave(child)


def test_markdown_off_in_the_config_shows_the_answer_as_written(
    pty_environ, scripted_llm, sid
) -> None:
    scripted_llm.script[:] = [" Hi **Bob**."]
    child = spawn({**pty_environ, "CHATCLI_CHAT_MARKDOWN": "false"}, "-s", sid)
    child.sendline("hi im bob")
    answered(child, re.escape("Hi **Bob**."))
    leave(child)


def test_ctrl_c_during_an_answer_cancels_it_and_keeps_the_repl(
    pty_environ, scripted_llm, serve, sid
) -> None:
    scripted_llm.script[:] = [" " + " ".join(f"word{i}" for i in range(300)), " Still here."]
    scripted_llm.token_delay = 0.05
    child = spawn(pty_environ, "-s", sid)
    child.sendline("tell me a long story")
    child.expect("word3 ")
    child.sendintr()
    child.expect_exact("(cancelled)")
    child.expect(PROMPT)
    child.sendline("are you there?")
    answered(child, "Still here.")
    assert leave(child) == 0
    assert humans(serve, sid) == ["are you there?"]


def test_ctrl_c_at_the_prompt_drops_the_line_and_gives_a_new_prompt(pty_environ, sid) -> None:
    child = spawn(pty_environ, "-s", sid)
    child.send("half a thought")
    child.sendintr()
    child.expect(PROMPT)
    child.sendline("/session")
    answered(child, f"{sid}\r\n")
    assert leave(child) == 0


def test_ctrl_d_leaves_with_status_0(pty_environ, sid) -> None:
    assert leave(spawn(pty_environ, "-s", sid)) == 0


def test_exit_leaves_with_status_0(pty_environ, sid) -> None:
    child = spawn(pty_environ, "-s", sid)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_input_history_persists_across_runs(pty_environ, sid) -> None:
    # Slash commands go into the history like messages, and need no model to answer.
    first = spawn(pty_environ, "-s", sid)
    first.sendline("/session")
    answered(first, f"{sid}\r\n")
    leave(first)
    second = spawn(pty_environ, "-s", "another-" + sid)
    second.send(UP)
    second.expect_exact("/session")
    second.send("\r")
    answered(second, f"another-{sid}\r\n")
    assert leave(second) == 0


def test_continue_in_a_second_run_recalls_the_first_runs_turn(pty_environ, scripted_llm) -> None:
    scripted_llm.responder = lambda prompt: (
        " Your name is Bob." if prompt.endswith("Human: whats my name?\nAI:") else " Hi Bob."
    )
    first = spawn(pty_environ)
    first.sendline("hi im bob")
    answered(first, "Hi Bob.")
    leave(first)
    second = spawn(pty_environ, "-c")
    second.sendline("whats my name?")
    answered(second, "Your name is Bob.")
    assert leave(second) == 0


def test_alt_enter_adds_a_line_to_the_same_message(pty_environ, scripted_llm, serve, sid) -> None:
    child = spawn(pty_environ, "-s", sid)
    child.send("first line")
    child.send(ALT_ENTER)
    child.send("second line")
    child.send("\r")
    answered(child, "OK")
    leave(child)
    assert humans(serve, sid) == ["first line\nsecond line"]


def test_clear_asks_first_and_no_keeps_the_session(pty_environ, serve, sid) -> None:
    remember_bob(serve, sid)
    child = spawn(pty_environ, "-s", sid)
    child.sendline("/clear")
    child.expect_exact("[y/N]")
    child.sendline("n")
    answered(child, "kept")
    leave(child)
    assert humans(serve, sid) == ["hi im bob"]


def test_clear_deletes_the_session_once_confirmed(pty_environ, serve, sid) -> None:
    remember_bob(serve, sid)
    child = spawn(pty_environ, "-s", sid)
    child.sendline("/clear")
    child.expect_exact("[y/N]")
    child.sendline("y")
    answered(child, f"cleared session {sid}")
    leave(child)
    assert humans(serve, sid) == []


def answers(serve: ServeProcess, session_id: str) -> list[str]:
    data = httpx.get(f"{serve.url}/sessions/{session_id}/memory").json()
    return [m["content"] for m in reversed(data["messages"]) if m["role"] == "AI"]


def test_undo_retry_and_fork_on_a_terminal(pty_environ, scripted_llm, serve, sid) -> None:
    scripted_llm.script[:] = [" Hi Bob.", " Your name is Bob.", " Hello again, Bob.", " Bye."]
    child = spawn(pty_environ, "-s", sid)
    child.sendline("hi im bob")
    answered(child, "Hi Bob")
    child.sendline("whats my name?")
    answered(child, "Your name is Bob")
    child.sendline("/undo")
    answered(child, 'removed the last exchange: "whats my name\\?" and its answer')
    child.sendline("/retry")
    child.expect('asking again: "hi im bob"')
    answered(child, "Hello again, Bob")
    child.sendline(f"/fork {sid}-fork")
    answered(child, f"now in session {sid}-fork")
    child.sendline("bye")
    answered(child, "Bye")
    assert leave(child) == 0

    assert (humans(serve, sid), answers(serve, sid)) == (["hi im bob"], [" Hello again, Bob."])
    assert humans(serve, f"{sid}-fork") == ["hi im bob", "bye"]


class TmuxScreen:
    """A chatcli command (the REPL unless told) in a tmux pane of its own server: what is on
    the screen, not the bytes sent. With `hold`, the pane stays once the command has left,
    showing "[exit N]" after its output."""

    def __init__(
        self,
        environ: dict[str, str],
        args: list[str],
        *,
        command: str = "chat",
        hold: bool = False,
        width: int = 100,
    ) -> None:
        self.socket = f"chatcli-test-{uuid.uuid4().hex[:8]}"
        line = shlex.join([sys.executable, "-m", "chatcli", command, *args])
        if hold:
            line = f'{line}; echo "[exit $?]"; sleep 600'
        self._tmux("new-session", "-d", "-x", str(width), "-y", "30", line, env=environ)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=env,
            cwd=str(REPO),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def text(self) -> str:
        return self._tmux("capture-pane", "-p")

    def wait_for(self, needle: str) -> str:
        """Poll the screen until `needle` shows (an event, with a generous deadline)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} never showed; the screen:\n{self.text()}")

    def wait_until(self, check: Callable[[str], bool], what: str) -> str:
        """Poll the screen until `check` holds for it (an event, with a generous deadline)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.text()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"never saw {what}; the screen:\n{self.text()}")

    def wait_closed(self) -> None:
        """Poll until the REPL has left and its pane with it."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "-L", self.socket, "has-session"], capture_output=True)
            if alive.returncode != 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"the REPL never left; the screen:\n{self.text()}")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")
def test_after_ctrl_c_the_partial_answer_is_on_screen_once(pty_environ, scripted_llm, sid) -> None:
    scripted_llm.script[:] = [" " + " ".join(f"word{i}" for i in range(300))]
    scripted_llm.token_delay = 0.05
    environ = {k: v for k, v in pty_environ.items() if k != "PROMPT_TOOLKIT_NO_CPR"}
    screen = TmuxScreen(environ, ["-s", sid])
    try:
        screen.wait_for("Ctrl-D to leave")
        screen.keys("tell me a long story", "Enter")
        screen.wait_for("word3 ")
        screen.keys("C-c")
        shown = screen.wait_for("(cancelled)")
        assert shown.count("word0 word1") == 1
    finally:
        screen.close()


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def prompts(screen: str) -> list[str]:
    """The prompt lines on a screen: "> " and what was typed after it, wherever drawn."""
    return [line.strip() for line in screen.splitlines() if line.strip().startswith(">")]


def bundled_model_environ(pty_environ: dict[str, str], *, embedded: bool) -> dict[str, str]:
    """The bundled model (greedy, short answers); the embedded memory server (no memory URL)
    when `embedded`, as a new user's default chat has."""
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    dropped = {"CHATCLI_LLM_BASE_URL", "CHATCLI_LLM_API_KEY"}
    if embedded:
        dropped.add("CHATCLI_MEMORY_URL")
    environ = {name: value for name, value in pty_environ.items() if name not in dropped}
    environ.pop("PROMPT_TOOLKIT_NO_CPR")
    return {
        **environ,
        "CHATCLI_LLM_PROVIDER": "local",
        "CHATCLI_LLM_TEMPERATURE": "0",
        "CHATCLI_LLM_MAX_TOKENS": "24",
    }


def stored_answers(environ: dict[str, str], session_id: str) -> list[str]:
    """The AI's turns in the embedded memory file, read by `chatcli history`."""
    done = subprocess.run(
        [sys.executable, "-m", "chatcli", "history", "--window", session_id, "--raw"],
        env=environ,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        check=True,
    )
    return [line[len("AI: ") :] for line in done.stdout.splitlines() if line.startswith("AI: ")]


@pytest.mark.local_model
@needs_tmux
def test_the_default_chat_with_the_bundled_model_shows_the_banner_one_prompt_and_the_answer(
    pty_environ,
) -> None:
    environ = bundled_model_environ(pty_environ, embedded=True)
    screen = TmuxScreen(environ, [])
    try:
        banner = screen.wait_for("Ctrl-D to leave")
        session_id = re.search(r"session (chat-[0-9a-f-]+):", banner).group(1)
        shown = screen.wait_until(lambda text: prompts(text) != [], "the prompt")
        assert prompts(shown) == [">"]
        screen.keys("hi im bob", "Enter")
        shown = screen.wait_until(lambda text: len(prompts(text)) == 2, "the next prompt")
        assert prompts(shown) == ["> hi im bob", ">"]
        screen.keys("C-d")
        screen.wait_closed()
    finally:
        screen.close()
    [answer] = stored_answers(environ, session_id)
    assert answer.strip() and shown.count(answer.strip()) == 1


@pytest.mark.local_model
@needs_tmux
def test_the_bundled_models_answer_is_rendered_as_markdown_on_a_terminal(
    pty_environ, serve, sid
) -> None:
    # A base model copies the transcript's pattern: greedy, it answers "  **hello**".
    turns = []
    for word in ["yes", "no", "maybe"]:
        turns += [
            {"role": "Human", "content": f"say {word} in bold"},
            {"role": "AI", "content": f" **{word}**"},
        ]
    body = {"messages": turns}
    httpx.post(f"{serve.url}/sessions/{sid}/memory", json=body).raise_for_status()
    screen = TmuxScreen(bundled_model_environ(pty_environ, embedded=False), ["-s", sid])
    try:
        screen.wait_until(lambda text: prompts(text) != [], "the prompt")
        screen.keys("say hello in bold", "Enter")
        shown = screen.wait_until(lambda text: len(prompts(text)) == 2, "the next prompt")
    finally:
        screen.close()
    assert "hello" in shown.split("> say hello in bold", 1)[1]
    assert "**" not in shown


def test_a_terminal_stays_a_terminal_for_the_command_while_its_fd_is_redirected() -> None:
    master, slave = os.openpty()
    terminal = os.fdopen(slave, "w")
    try:
        env = Environment(stdout=terminal, environ={})
        saved = os.dup(slave)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), slave)
        try:
            assert not terminal.isatty()
            assert env.stdout_isatty
        finally:
            os.dup2(saved, slave)
            os.close(saved)
    finally:
        terminal.close()
        os.close(master)


@needs_tmux
def test_ctrl_c_while_ask_waits_for_the_answer_says_interrupted_over_the_echoed_ctrl_c(
    pty_environ, scripted_llm, sid
) -> None:
    scripted_llm.delay = 60
    screen = TmuxScreen(pty_environ, ["-s", sid, "hi im bob"], command="ask", hold=True)
    try:
        deadline = time.monotonic() + WAIT
        while not scripted_llm.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        screen.keys("C-c")
        shown = screen.wait_for("[exit 130]")
    finally:
        screen.close()
    assert "chatcli: interrupted" in shown.splitlines()
    assert "^C" not in shown


@needs_tmux
@pytest.mark.parametrize(("key", "said"), [("C-d", "kept session {sid}"), ("C-c", None)])
def test_an_unanswered_clear_question_ends_its_line_first(
    pty_environ, serve, sid, key, said
) -> None:
    remember_bob(serve, sid)
    screen = TmuxScreen(pty_environ, [sid], command="clear", hold=True, width=200)
    try:
        screen.wait_for("[y/N]")
        screen.keys(key)
        shown = screen.wait_for("[exit ")
    finally:
        screen.close()
    lines = shown.splitlines()
    question = next(i for i, line in enumerate(lines) if "[y/N]" in line)
    assert lines[question].rstrip().endswith(("[y/N]", "[y/N] ^C"))
    assert lines[question + 1] == (said.format(sid=sid) if said else "chatcli: interrupted")
    assert humans(serve, sid) == ["hi im bob"]


def test_edit_on_a_terminal_sends_what_the_editor_saved_and_gives_the_prompt_back(
    pty_environ, scripted_llm, serve, sid, tmp_path
) -> None:
    editor = tmp_path / "editor"
    editor.write_text(f"#!{sys.executable}\nimport sys\nopen(sys.argv[-1], 'w').write('edited')\n")
    editor.chmod(0o755)
    scripted_llm.script[:] = [" Got the edit."]
    child = spawn({**pty_environ, "VISUAL": str(editor)}, "-s", sid)
    child.sendline("/edit")
    answered(child, "Got the edit.")
    assert leave(child) == 0
    assert humans(serve, sid) == ["edited"]


def test_slash_search_on_a_terminal_highlights_the_words_found(pty_environ, serve, sid) -> None:
    body = {"messages": [{"role": "Human", "content": "my sister Ana lives in Porto"}]}
    httpx.post(f"{serve.url}/sessions/{sid}/memory", json=body).raise_for_status()
    colour = {k: v for k, v in pty_environ.items() if k != "NO_COLOR"}
    child = spawn({**colour, "CHATCLI_MEMORY_TIMEOUT": "120"}, "-s", sid)
    child.sendline("/search sister")
    child.expect_exact("\x1b[1;33msister\x1b[0m")
    child.expect(PROMPT)
    assert leave(child) == 0


def test_slash_recall_off_says_so_at_the_prompt(pty_environ, sid) -> None:
    child = spawn(pty_environ, "-s", sid)
    child.sendline("/recall off")
    answered(child, "recall off")
    assert leave(child) == 0
