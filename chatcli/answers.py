"""How an answer streams onto the screen: plain text as it comes, or Markdown on a terminal.

`ask` and the REPL show answers with the same plain writer; only the REPL renders Markdown.
"""

from __future__ import annotations

from typing import IO, Any, Protocol


class Answer(Protocol):
    """An answer being shown while it streams."""

    def feed(self, token: str) -> None: ...

    def settle(self) -> None:
        """Trace lines are about to go to the same terminal: leave the screen clean for them."""

    def finish(self, answer: str = "") -> None:
        """The answer is complete (`answer` is the whole of it, for a view shown nothing yet)."""

    def cancel(self) -> None: ...


class PlainAnswer:
    """Tokens written as they come, for pipes, --raw, chat.markdown = false and `ask`.

    The seed's answers start with a space (stored as given); shown as-is they would look
    indented, so leading blank space is dropped. With `trim_end` (`ask`, for scripts) trailing
    blank space is held back until more text proves it is not trailing, and the answer ends
    with exactly one newline, an empty one included, so a script reads one line per answer.
    """

    def __init__(self, out: IO[str], *, trim_end: bool = False) -> None:
        self._out = out
        self._trim_end = trim_end
        self._started = False
        self._pending = ""
        self._at_line_start = True

    def feed(self, token: str) -> None:
        if not self._started:
            token = token.lstrip()
            if not token:
                return
            self._started = True
        if self._trim_end:
            body = token.rstrip()
            if not body:
                self._pending += token
                return
            token, self._pending = self._pending + body, token[len(body) :]
        self._out.write(token)
        self._out.flush()
        self._at_line_start = token.endswith("\n")

    def settle(self) -> None:
        """Before trace lines go to the same terminal, end the answer's line."""
        self._end_line()

    def finish(self, answer: str = "") -> None:
        if not self._started:
            self.feed(answer)
        if self._trim_end and not self._started:
            self._out.write("\n")
            self._out.flush()
            return
        self._end_line()

    def cancel(self) -> None:
        """End a partial answer's line, so the error that follows starts on its own."""
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

    def finish(self, answer: str = "") -> None:
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
