"""The REPL's view of the record: what /undo and /retry take, and what /history shows."""

from __future__ import annotations

from chatcli.memory.session import TranscriptMessage
from chatcli.repl.record import history_lines, last_exchange, preview


def message(
    n: int, role: str, content: str = "text", summarized: bool = False
) -> TranscriptMessage:
    return TranscriptMessage(f"m{n}", role, content, n, summarized)


def test_the_last_exchange_is_the_last_human_message_and_its_answer() -> None:
    messages = [message(1, "Human"), message(2, "AI"), message(3, "Human"), message(4, "AI")]
    assert last_exchange(messages) == messages[2:]


def test_a_last_question_without_an_answer_is_an_exchange_alone() -> None:
    messages = [message(1, "Human"), message(2, "AI"), message(3, "Human")]
    assert last_exchange(messages) == messages[2:]


def test_no_human_message_means_no_exchange() -> None:
    assert last_exchange([message(1, "AI")]) == []
    assert last_exchange([]) == []


def test_a_preview_is_one_short_line() -> None:
    assert preview("two\nlines") == "two lines"
    assert len(preview("x" * 500)) == 60


def test_history_lines_put_the_summary_first_and_each_id_before_its_message() -> None:
    lines = history_lines("Bob said hi.", [message(1, "Human", " hi ")])
    assert lines == ["Summary: Bob said hi.", "", "[m1] Human: hi"]


def test_history_lines_mark_where_the_window_starts() -> None:
    messages = [message(1, "Human", "old", summarized=True), message(2, "AI", "new")]
    assert history_lines(None, messages) == [
        "[m1] Human: old",
        "(the summary covers the messages above; the model sees those below)",
        "[m2] AI: new",
    ]
