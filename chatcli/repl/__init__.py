"""`chatcli chat`: the REPL.

- `inputs`: where its lines come from (a terminal's line editor, or a pipe);
- `chat`: the controller (the loop, slash commands, one turn per message);
- `trace`: LangChain's trace on stderr, written only once the answer on screen is settled;
- `run`: the wiring behind the command, `run_chat`.

How answers are shown lives in `chatcli.answers`, shared with `ask`.
"""

from chatcli.repl.run import run_chat

__all__ = ["run_chat"]
