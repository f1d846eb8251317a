"""`chatcli ask`: one turn, for scripts. stdout carries the answer and nothing else."""

from __future__ import annotations

import json
from typing import IO

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.llm import preload
from chatcli.memory.open import open_memory
from chatcli.state import remember_session, resolve_session


def run_ask(
    env: Environment,
    settings: Settings,
    *,
    question: str | None,
    session: str | None,
    cont: bool,
    json_out: bool,
    verbose: bool,
) -> None:
    session_id, is_new = resolve_session(env, session, cont)
    text = read_question(env, question)
    preload(settings.llm)
    from chatcli.conversation import Conversation
    from chatcli.render import trace_stream

    with open_memory(settings) as memory:
        trace = trace_stream(env)
        conversation = Conversation(settings, memory, session_id, verbose=verbose, trace=trace)
        try:
            if json_out:
                answer = conversation.turn(text)
                payload = {"session": session_id, "answer": answer.strip()}
                print(json.dumps(payload, ensure_ascii=False), file=env.stdout)
            else:
                display = AnswerWriter(env.stdout)
                try:
                    conversation.turn(text, on_token=display.write)
                except BaseException:
                    display.abort()
                    raise
                display.finish()
        finally:
            conversation.close()
    remember_session(env, session_id)
    if is_new and not json_out:
        print(f"new session {session_id}; continue it with -c or -s {session_id}", file=env.stderr)


def read_question(env: Environment, question: str | None) -> str:
    """The argument, or stdin when it is piped (or the argument is '-')."""
    if question is None or question == "-":
        if question is None and env.stdin_isatty:
            raise UsageError("no question: pass one as an argument or pipe it on stdin")
        question = env.stdin.read()
    text = question.strip()
    if not text:
        raise UsageError("no question: pass one as an argument or pipe it on stdin")
    return text


class AnswerWriter:
    """Streams an answer for display: no leading or trailing blank space, one final newline.

    The seed's answers start with a space (stored as given); shown as-is they would look
    indented. Trailing whitespace is held back until more text proves it is not trailing.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = False
        self.pending = ""

    def write(self, token: str) -> None:
        if not self.started:
            token = token.lstrip()
            if not token:
                return
            self.started = True
        body = token.rstrip()
        if not body:
            self.pending += token
            return
        self.stream.write(self.pending + body)
        self.pending = token[len(body) :]
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()

    def abort(self) -> None:
        """End a partial answer's line, so the error that follows starts on its own."""
        if self.started:
            self.finish()
