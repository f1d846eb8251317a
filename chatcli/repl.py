"""`chatcli chat`: the REPL loop, where its lines come from, and how answers are shown.

The loop takes its input as a parameter (prompt_toolkit on a terminal, plain lines from a
pipe), so Typer's CliRunner, a pty and a person all drive the same code. Ctrl-C during an
answer cancels that answer only: Conversation.turn saves a turn after a complete answer,
so a cancelled one never reaches the server.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import ChatcliError, UsageError, unexpected
from chatcli.slash import BlockReader, Slash, help_text, parse_line, session_id_problem

if TYPE_CHECKING:
    from chatcli.conversation import Conversation
    from chatcli.memory.protocol import MemoryClient

PROMPT = "> "
CONTINUATION = "... "
SESSIONS_SHOWN = 20
"""/sessions shows the most recent ones; `chatcli sessions` pages through all of them."""
SESSIONS_PAGE = 1000


class InputSource(Protocol):
    """Where the REPL's lines come from. `read` raises EOFError at the end (Ctrl-D) and
    KeyboardInterrupt for Ctrl-C at the prompt."""

    interactive: bool
    """A person at a terminal: shown the keys, and asked before anything is deleted."""

    def read(self, continuation: bool = False) -> str: ...

    def confirm(self, question: str) -> bool: ...


class LineInput:
    """Lines from a pipe or a test's stdin, with no prompt: the output stays just the answers."""

    interactive = False

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def read(self, continuation: bool = False) -> str:
        line = self._stream.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n").rstrip("\r")

    def confirm(self, question: str) -> bool:
        """Nobody to ask: a scripted /clear means it."""
        return True


class TerminalInput:
    """prompt_toolkit line editing: Enter sends, Alt-Enter (Esc Enter) adds a line, and the
    history file makes up-arrow reach lines typed in earlier runs."""

    interactive = True

    def __init__(self, env: Environment, history_file: Path | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.input import create_input
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.output import create_output

        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        history: History = InMemoryHistory()
        if history_file is not None:
            try:
                history_file.parent.mkdir(parents=True, exist_ok=True)
                history_file.touch(exist_ok=True)
                history = FileHistory(str(history_file))
            except OSError as exc:
                print(
                    f"chatcli: warning: input history not kept: cannot write {history_file}: "
                    f"{exc.strerror}",
                    file=env.stderr,
                )
        self._input = create_input(env.stdin)
        # The prompt belongs on the terminal even when the answers are piped elsewhere.
        self._output = create_output(stdout=env.stdout if env.stdout_isatty else env.stderr)
        self._session: Any = PromptSession(
            history=history,
            key_bindings=bindings,
            multiline=False,
            prompt_continuation=lambda width, line, wrap: CONTINUATION.rjust(width),
            input=self._input,
            output=self._output,
        )
        self._make_session = PromptSession

    def read(self, continuation: bool = False) -> str:
        return self._session.prompt(CONTINUATION if continuation else PROMPT)

    def confirm(self, question: str) -> bool:
        asker = self._make_session(input=self._input, output=self._output)
        try:
            answer = asker.prompt(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in {"y", "yes"}


def default_input(env: Environment, settings: Settings) -> InputSource:
    if env.stdin_isatty:
        history = settings.chat.history_file
        return TerminalInput(env, Path(history).expanduser() if history else None)
    return LineInput(env.stdin)


class PlainAnswer:
    """Tokens written as they come, for pipes, --raw and chat.markdown = false."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._started = False
        self._at_line_start = True

    def feed(self, token: str) -> None:
        if not self._started:
            # The bob prompt's answers start with a space; it is stored, not shown.
            token = token.lstrip()
            if not token:
                return
            self._started = True
        self._out.write(token)
        self._out.flush()
        self._at_line_start = token.endswith("\n")

    def settle(self) -> None:
        """Before trace lines go to the same terminal, end the answer's line."""
        self._end_line()

    def finish(self, answer: str) -> None:
        if not self._started:
            self.feed(answer)
        self._end_line()

    def cancel(self) -> None:
        self._end_line()

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._out.write("\n")
            self._out.flush()
            self._at_line_start = True


class _GrowingMarkdown:
    """The answer so far as Markdown; while it streams, only the tail that fits the screen,
    so Rich's Live never has to redraw lines that scrolled away, and without the padding
    Rich adds to the full width: the terminal's "^C" echo after a full-width line would wrap
    and leave a copy of the region behind."""

    def __init__(self) -> None:
        self.text = ""
        self.done = False

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.markdown import Markdown
        from rich.segment import Segment

        markdown = Markdown(self.text.lstrip())
        if self.done:
            yield markdown
            return
        lines = console.render_lines(markdown, options, pad=False)
        for line in lines[-max(1, console.height - 1) :]:
            yield from _rstrip(line)
            yield Segment.line()


def _rstrip(line: list[Any]) -> list[Any]:
    """A rendered line without its trailing blanks."""
    from rich.segment import Segment

    segments = list(line)
    while segments and not segments[-1].control:
        last = segments[-1]
        text = last.text.rstrip()
        if text:
            segments[-1] = Segment(text, last.style)
            break
        segments.pop()
    return segments


class MarkdownAnswer:
    """Tokens rendered as Markdown in a Rich Live region, refreshed a few times a second, with
    a final full render when the answer is complete."""

    def __init__(self, console: Any) -> None:
        self._console = console
        self._live: Any = None
        self._view = _GrowingMarkdown()
        self._shown_any = False

    def feed(self, token: str) -> None:
        self._view.text += token
        if self._live is None and self._view.text.strip():
            from rich.live import Live

            self._live = Live(
                self._view,
                console=self._console,
                refresh_per_second=8,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
            self._shown_any = True

    def settle(self) -> None:
        """Trace lines are about to be written: show what there is and start a new region
        for anything that follows, so the two never overwrite each other."""
        self._stop()
        self._view = _GrowingMarkdown()

    def finish(self, answer: str) -> None:
        if not self._shown_any and answer.strip():
            from rich.markdown import Markdown

            self._console.print(Markdown(answer.strip()))
            return
        self._stop()

    def cancel(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            self._view.done = True
            self._live.stop()
            self._live = None


class _TraceStream(io.TextIOBase):
    """LangChain's trace on stderr, written only after the answer on screen is settled."""

    def __init__(self, stream: IO[str], chat: Chat | None = None) -> None:
        super().__init__()
        self._stream = stream
        self.chat = chat

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.chat is not None and self.chat.answer is not None:
            self.chat.answer.settle()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (AttributeError, ValueError):
            return False


class Chat:
    """One REPL: reads lines, runs slash commands, sends messages, and shows the answers."""

    def __init__(
        self,
        env: Environment,
        settings: Settings,
        conversation: Conversation,
        client: MemoryClient,
        source: InputSource,
        *,
        raw: bool = False,
    ) -> None:
        self.env = env
        self.settings = settings
        self.conversation = conversation
        self.client = client
        self.source = source
        self.raw = raw
        self.markdown = env.stdout_isatty and not raw and settings.chat.markdown
        self.answer: PlainAnswer | MarkdownAnswer | None = None
        self._block = BlockReader()

    @property
    def session_id(self) -> str:
        return self.conversation.session_id

    def run(self) -> None:
        while True:
            try:
                line = self.source.read(continuation=self._block.open)
            except KeyboardInterrupt:
                # Like a shell: Ctrl-C at the prompt drops the line (and any open block).
                self._block.reset()
                continue
            except EOFError:
                if self._block.open:
                    self.status('unfinished """ block not sent')
                return
            if self._block.wants(line):
                text = self._block.feed(line)
                if text is not None and text.strip():
                    self.send(text)
                continue
            parsed = parse_line(line)
            if parsed is None:
                continue
            if isinstance(parsed, Slash):
                if not self.command(parsed):
                    return
                continue
            self.send(parsed)

    def send(self, text: str) -> None:
        """One turn; whatever goes wrong is one line on stderr and the REPL carries on."""
        answer_view = self._new_answer()
        self.answer = answer_view
        try:
            answer = self.conversation.turn(text, on_token=answer_view.feed)
        except KeyboardInterrupt:
            answer_view.cancel()
            self.cancelled()
            return
        except ChatcliError as exc:
            answer_view.cancel()
            self.error(exc.message)
            return
        except Exception as exc:  # a chat must survive a bug in one turn
            answer_view.cancel()
            self.error(unexpected(exc))
            return
        finally:
            self.answer = None
        try:
            answer_view.finish(answer)
        except KeyboardInterrupt:
            # The turn is saved by now; only its display is cut short.
            answer_view.cancel()

    def command(self, slash: Slash) -> bool:
        """Run a slash command; False means leave the REPL."""
        if slash.error is not None:
            self.status(slash.error)
            return True
        if slash.name == "exit":
            return False
        handler = getattr(self, f"_cmd_{slash.name}")
        try:
            handler(slash.arg)
        except KeyboardInterrupt:
            self.cancelled()
        except ChatcliError as exc:
            self.error(exc.message)
        return True

    def _cmd_help(self, arg: str | None) -> None:
        self.say(help_text())

    def _cmd_history(self, arg: str | None) -> None:
        from chatcli.render import console_for, print_transcript

        memory = self.client.memory(self.session_id)
        if not memory.messages and memory.summary is None:
            self.status(f"session {self.session_id} has no messages yet")
            return
        console = console_for(self.env, self.env.stdout, force_plain=self.raw)
        print_transcript(console, memory, raw=self.raw)

    def _cmd_summary(self, arg: str | None) -> None:
        memory = self.client.memory(self.session_id)
        summary = memory.summary
        if summary is None:
            self.status("no summary yet")
        else:
            self.say(summary)

    def _cmd_sessions(self, arg: str | None) -> None:
        namespace = self.settings.memory.namespace
        ids: list[str] = []
        for page in range(1, 101):
            batch = self.client.sessions(namespace=namespace, page=page, size=SESSIONS_PAGE)
            ids.extend(batch)
            if len(batch) < SESSIONS_PAGE:
                break
        if not ids:
            self.status("no sessions on the server yet")
            return
        shown = ids[-SESSIONS_SHOWN:]
        if len(ids) > len(shown):
            self.status(f"{len(ids) - len(shown)} older sessions not shown: see `chatcli sessions`")
        for session_id in shown:
            mark = "*" if session_id == self.session_id else " "
            self.say(f"{mark} {session_id}")
        if self.session_id not in ids:
            self.status(f"(this session, {self.session_id}, has nothing saved yet)")

    def _cmd_session(self, arg: str | None) -> None:
        if arg is None:
            self.say(self.session_id)
            return
        self._switch(arg)
        memory = self.client.memory(arg)
        if not memory.messages and memory.summary is None:
            self.status(f"session {arg} (new)")
        else:
            self.status(f"session {arg}: {len(memory.messages)} messages")

    def _cmd_new(self, arg: str | None) -> None:
        from chatcli.state import new_session_id

        session_id = new_session_id()
        self._switch(session_id)
        self.status(f"session {session_id} (new)")

    def _cmd_clear(self, arg: str | None) -> None:
        question = f"delete session {self.session_id} and its summary from the memory server?"
        if self.source.interactive and not self.source.confirm(question):
            self.status("kept")
            return
        self.client.delete(self.session_id, namespace=self.settings.memory.namespace)
        self.status(f"cleared session {self.session_id}")

    def _cmd_verbose(self, arg: str | None) -> None:
        self.conversation.verbose = not self.conversation.verbose
        state = "on (on stderr)" if self.conversation.verbose else "off"
        self.status(f"verbose trace {state}")

    def _switch(self, session_id: str) -> None:
        from chatcli.state import remember_session

        self.conversation.session_id = session_id
        remember_session(self.env, session_id)

    def _new_answer(self) -> PlainAnswer | MarkdownAnswer:
        if self.markdown:
            from chatcli.render import console_for

            return MarkdownAnswer(console_for(self.env, self.env.stdout))
        return PlainAnswer(self.env.stdout)

    def say(self, text: str) -> None:
        """What the user asked to see: stdout."""
        print(text, file=self.env.stdout, flush=True)

    def status(self, text: str) -> None:
        """About the REPL rather than the conversation: stderr, so stdout stays the answers."""
        print(text, file=self.env.stderr, flush=True)

    def cancelled(self) -> None:
        # A terminal echoes "^C" where the cursor is; on a tty, write over it.
        self.status(("\r" if self.env.stderr_isatty else "") + "(cancelled)")

    def error(self, message: str) -> None:
        print(f"chatcli: error: {message}", file=self.env.stderr, flush=True)


def run_chat(
    env: Environment,
    settings: Settings,
    *,
    session: str | None,
    cont: bool,
    verbose: bool,
    raw: bool,
    input_source: InputSource | None = None,
) -> None:
    """The `chat` command: resolve the session, open the memory server, and run the REPL."""
    from chatcli.conversation import Conversation
    from chatcli.llm import preload
    from chatcli.memory.open import open_memory
    from chatcli.state import remember_session, resolve_session

    session_id, is_new = resolve_session(env, session, cont)
    problem = session_id_problem(session_id)
    if problem is not None:
        raise UsageError(problem)
    preload(settings.llm)
    with open_memory(settings) as client:
        source = input_source or default_input(env, settings)
        trace = _TraceStream(env.stderr)
        conversation = Conversation(settings, client, session_id, verbose=verbose, trace=trace)
        try:
            chat = Chat(env, settings, conversation, client, source, raw=raw)
            trace.chat = chat
            _greet(chat, is_new)
            remember_session(env, session_id)
            chat.run()
        finally:
            conversation.close()


def _greet(chat: Chat, is_new: bool) -> None:
    session_id = chat.session_id
    if is_new:
        chat.status(f"session {session_id}: resume with `chatcli chat -s {session_id}` or `-c`")
    else:
        memory = chat.client.memory(session_id)
        if not memory.messages and memory.summary is None:
            chat.status(f"session {session_id} (new)")
        else:
            summary = ", and a summary" if memory.summary else ""
            chat.status(f"session {session_id}: {len(memory.messages)} messages{summary}")
    if chat.source.interactive:
        chat.status("/help for commands, Alt-Enter for a new line, Ctrl-D to leave")
