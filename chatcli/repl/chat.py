"""The REPL's controller: reads lines, runs slash commands, sends messages, shows answers.

Ctrl-C during an answer cancels that answer only: Conversation.turn saves a turn after a
complete answer, so a cancelled one never reaches the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chatcli.answers import Answer, MarkdownAnswer, PlainAnswer
from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import ChatcliError, NeedsChatcliServer, UsageError, unexpected
from chatcli.repl.inputs import InputSource
from chatcli.repl.record import history_lines, last_exchange, preview
from chatcli.slash import NEEDS_ARGUMENT, BlockReader, Slash, help_text, parse_line

if TYPE_CHECKING:
    from chatcli.conversation import Conversation
    from chatcli.memory.protocol import MemoryClient
    from chatcli.memory.session import TranscriptMessage

SESSIONS_SHOWN = 20
"""/sessions shows the most recent ones; `chatcli sessions` pages through all of them."""
SESSIONS_PAGE = 1000
HISTORY_SHOWN = 50
"""/history shows the most recent messages; `chatcli history` shows the whole record."""
TRANSCRIPT_PAGE = 1000
SEARCH_SHOWN = 10
"""/search shows the nearest hits; `chatcli search -n` shows up to 100."""


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
        self.answer: Answer | None = None
        self.last_answer: str | None = None
        """This run's last complete answer, for /copy."""
        self._block = BlockReader()
        self._leaving = False

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

    def send(self, text: str) -> bool:
        """One turn; whatever goes wrong is one line on stderr and the REPL carries on.
        True when the turn was answered (and so saved)."""
        answer_view = self._new_answer()
        self.answer = answer_view
        try:
            answer = self.conversation.turn(text, on_token=answer_view.feed)
        except KeyboardInterrupt:
            answer_view.cancel()
            self.cancelled()
            return False
        except ChatcliError as exc:
            answer_view.cancel()
            self.error(exc.message)
            return False
        except Exception as exc:  # a chat must survive a bug in one turn
            answer_view.cancel()
            self.error(unexpected(exc))
            return False
        finally:
            self.answer = None
        self.remember()
        self.last_answer = answer.strip()
        try:
            answer_view.finish(answer)
        except KeyboardInterrupt:
            # The turn is saved by now; only its display is cut short.
            answer_view.cancel()
        return True

    def command(self, slash: Slash) -> bool:
        """Run a slash command; False means leave the REPL."""
        if slash.error is not None:
            self.status(slash.error)
            return True
        try:
            HANDLERS[slash.name](self, slash.arg)
        except KeyboardInterrupt:
            self.cancelled()
        except ChatcliError as exc:
            self.error(exc.message)
        return not self._leaving

    def _cmd_exit(self, arg: str | None) -> None:
        self._leaving = True

    def _cmd_help(self, arg: str | None) -> None:
        self.say(help_text())

    def _cmd_history(self, arg: str | None) -> None:
        memory = self.client.memory(self.session_id)
        try:
            messages = self._transcript()
        except NeedsChatcliServer:
            # A Motörhead keeps no record under its window: show the window it has.
            from chatcli.render import console_for, print_transcript

            if memory.is_empty:
                self.status(f"session {self.session_id} has no messages yet")
                return
            console = console_for(self.env, self.env.stdout, force_plain=self.raw)
            print_transcript(console, memory, raw=self.raw)
            return
        if not messages and memory.summary is None:
            self.status(f"session {self.session_id} has no messages yet")
            return
        shown = messages[-HISTORY_SHOWN:]
        hidden = len(messages) - len(shown)
        if hidden:
            self.status(
                f"{hidden} earlier messages not shown: see `chatcli history {self.session_id}`"
            )
        for line in history_lines(memory.summary, shown):
            self.say(line)

    def _cmd_undo(self, arg: str | None) -> None:
        exchange = last_exchange(self._transcript())
        if not exchange:
            self.status(f"nothing to undo: session {self.session_id} has no message of yours")
            return
        self._forget_all(exchange)
        self.last_answer = None
        answer = "and its answer" if len(exchange) > 1 else "(it had no answer)"
        self.status(f'removed the last exchange: "{preview(exchange[0].content)}" {answer}')

    def _cmd_retry(self, arg: str | None) -> None:
        """The old exchange goes first, so the new answer is asked without it; if the new
        turn fails or is cancelled, the old one is put back with its own ids and times."""
        exchange = last_exchange(self._transcript())
        if not exchange:
            self.status(f"nothing to retry: session {self.session_id} has no question yet")
            return
        self._forget_all(exchange)
        self.status(f'asking again: "{preview(exchange[0].content)}"')
        if not self.send(exchange[0].content):
            namespace = self.settings.memory.namespace
            self.client.import_messages(self.session_id, exchange, namespace=namespace)
            self.status("kept the earlier answer")

    def _cmd_forget(self, arg: str | None) -> None:
        if arg is None:
            raise UsageError(NEEDS_ARGUMENT["forget"])
        self.client.forget(self.session_id, arg)
        self.status(f"forgot message {arg}")

    def _cmd_fork(self, arg: str | None) -> None:
        if arg is None:
            raise UsageError(NEEDS_ARGUMENT["fork"])
        source = self.session_id
        count = self.client.fork(source, arg, namespace=self.settings.memory.namespace)
        self._switch(arg)
        self.remember()
        messages = "1 message" if count == 1 else f"{count} messages"
        self.status(f"forked session {source} into {arg} ({messages}); now in session {arg}")

    def _cmd_search(self, arg: str | None) -> None:
        if arg is None:
            raise UsageError(NEEDS_ARGUMENT["search"])
        hits = self.client.search(arg, self.session_id, SEARCH_SHOWN)
        if not hits:
            self.status(f"no messages in session {self.session_id} match {arg!r}")
            return
        from chatcli.render import console_for
        from chatcli.search_view import print_hits

        console = console_for(self.env, self.env.stdout, force_plain=self.raw)
        print_hits(console, hits, arg, raw=self.raw)

    def _cmd_recall(self, arg: str | None) -> None:
        if arg is not None:
            self.conversation.recall = arg == "on"
        if self.conversation.recall:
            k = self.settings.memory.recall_k
            self.status(f"recall on: up to {k} relevant messages from beyond the window")
        else:
            self.status("recall off")

    def _transcript(self) -> list[TranscriptMessage]:
        """This session's whole record, oldest first."""
        page = self.client.transcript(self.session_id, limit=TRANSCRIPT_PAGE)
        messages = list(page.messages)
        while page.next is not None:
            page = self.client.transcript(self.session_id, after=page.next, limit=TRANSCRIPT_PAGE)
            messages += page.messages
        return messages

    def _forget_all(self, messages: list[TranscriptMessage]) -> None:
        """Newest first, so a cut-short undo leaves a question without its answer, never
        an answer without its question."""
        for message in reversed(messages):
            self.client.forget(self.session_id, message.id)

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
        hidden = len(ids) - len(shown)
        if hidden:
            older = "1 older session" if hidden == 1 else f"{hidden} older sessions"
            self.status(f"{older} not shown: see `chatcli sessions`")
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
        if memory.is_empty:
            self.status(f"session {arg} (new)")
        else:
            self.remember()
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

    def _cmd_edit(self, arg: str | None) -> None:
        from chatcli.repl.editor import compose

        text = compose(self.env.environ)
        if not text:
            self.status("nothing sent: the editor left no text")
            return
        self.send(text)

    def _cmd_copy(self, arg: str | None) -> None:
        from chatcli.repl.clipboard import copy

        text = self.last_answer
        if text is None:
            answers = [c for r, c in self.client.memory(self.session_id).messages if r == "AI"]
            text = answers[-1].strip() if answers else None
        if not text:
            self.status("no answer to copy yet")
            return
        tool = copy(text, self.env.environ)
        self.status(f"copied the last answer ({len(text)} characters) with {tool}")

    def _cmd_verbose(self, arg: str | None) -> None:
        self.conversation.verbose = not self.conversation.verbose
        state = "on (on stderr)" if self.conversation.verbose else "off"
        self.status(f"verbose trace {state}")

    def _switch(self, session_id: str) -> None:
        self.conversation.session_id = session_id

    def remember(self) -> None:
        """`-c` continues this session from now on: it has something saved. An empty one
        is not remembered, so opening a chat and leaving it never hides the last real one."""
        from chatcli.state import remember_session

        remember_session(self.env, self.session_id)

    def _new_answer(self) -> Answer:
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


Handler = Callable[[Chat, str | None], None]

HANDLERS: dict[str, Handler] = {
    "help": Chat._cmd_help,
    "history": Chat._cmd_history,
    "summary": Chat._cmd_summary,
    "sessions": Chat._cmd_sessions,
    "session": Chat._cmd_session,
    "new": Chat._cmd_new,
    "clear": Chat._cmd_clear,
    "undo": Chat._cmd_undo,
    "retry": Chat._cmd_retry,
    "forget": Chat._cmd_forget,
    "fork": Chat._cmd_fork,
    "search": Chat._cmd_search,
    "recall": Chat._cmd_recall,
    "edit": Chat._cmd_edit,
    "copy": Chat._cmd_copy,
    "verbose": Chat._cmd_verbose,
    "exit": Chat._cmd_exit,
}
"""Each of chatcli.slash.COMMANDS by its canonical name (a test holds the two to each other)."""
