"""`chatcli ask`: one turn, for scripts. stdout carries the answer and nothing else."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from chatcli.answers import PlainAnswer
from chatcli.attachments import read_files, with_files
from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import UsageError
from chatcli.local_models import LocalModels
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
    files: Sequence[Path] = (),
) -> None:
    attached = read_files(files)
    session_id, is_new = resolve_session(env, session, cont)
    text = with_files(read_question(env, question, optional=bool(attached)), attached)
    models = LocalModels()
    models.preload(settings.llm)
    from chatcli.conversation import Conversation
    from chatcli.render import trace_stream

    with open_memory(settings, models) as memory:
        trace = trace_stream(env)
        conversation = Conversation(
            settings, memory, session_id, verbose=verbose, trace=trace, models=models
        )
        try:
            if json_out:
                answer = conversation.turn(text)
                payload = {"session": session_id, "answer": answer.strip()}
                print(json.dumps(payload, ensure_ascii=False), file=env.stdout)
            else:
                display = PlainAnswer(env.stdout, trim_end=True)
                try:
                    conversation.turn(text, on_token=display.feed)
                except BaseException:
                    display.cancel()
                    raise
                display.finish()
        finally:
            conversation.close()
    remember_session(env, session_id)
    if is_new and not json_out:
        print(f"new session {session_id}; continue it with -c or -s {session_id}", file=env.stderr)


def read_question(env: Environment, question: str | None, optional: bool = False) -> str:
    """The argument, or stdin when it is piped (or the argument is '-'); `optional` when
    files (-f) carry the question, so none need be typed."""
    if question is None or question == "-":
        if question is None and env.stdin_isatty:
            if optional:
                return ""
            raise UsageError("no question: pass one as an argument or pipe it on stdin")
        question = env.stdin.read()
    text = question.strip()
    if not text and not optional:
        raise UsageError("no question: pass one as an argument or pipe it on stdin")
    return text
