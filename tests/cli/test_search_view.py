"""How search hits look, as pure functions and on a Rich console: the words that matched,
the message's time, and the ids a user acts on."""

from __future__ import annotations

import io
from datetime import UTC

from rich.console import Console

from chatcli.memory.session import Hit
from chatcli.search import act_hint
from chatcli.search_view import match_spans, print_hits
from chatcli.when import moment_text

AT = 1_764_600_000_000
"""2025-12-01 14:40 UTC."""
HIT = Hit("chat-1", "m-42", "Human", "my sister Ana lives\nin Porto", AT, 0.0)


def marked(text: str, query: str) -> list[str]:
    return [text[start:end] for start, end in match_spans(text, query)]


def test_a_query_word_is_marked_wherever_the_text_has_it() -> None:
    assert marked("Ana said Ana", "ana") == ["Ana", "Ana"]


def test_a_longer_word_a_query_word_begins_is_marked_whole() -> None:
    assert marked("her sisters are here", "sister") == ["sisters"]


def test_only_whole_word_starts_are_marked() -> None:
    assert marked("banana", "ana") == []


def test_short_and_common_query_words_are_not_marked() -> None:
    assert marked("what is my sister called", "what is my sister") == ["sister"]


def test_a_query_of_only_common_words_marks_nothing() -> None:
    assert match_spans("what is it", "what is it") == []


def test_a_moment_is_shown_to_the_minute_in_the_zone_given() -> None:
    assert moment_text(AT, UTC) == "2025-12-01 14:40"


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, color_system=None, width=200), out


def test_off_a_terminal_each_hit_is_one_plain_line_with_its_ids() -> None:
    console, out = plain_console()
    print_hits(console, [HIT], "sister", zone=UTC)
    assert out.getvalue() == "chat-1  2025-12-01 14:40  m-42  Human: my sister Ana lives in Porto\n"


def test_on_a_terminal_the_matching_words_are_highlighted() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    print_hits(console, [HIT], "sister porto", zone=UTC)
    shown = out.getvalue()
    assert "\x1b[1;33msister\x1b[0m" in shown
    assert "\x1b[1;33mPorto\x1b[0m" in shown
    assert "\x1b[1;33mAna" not in shown


def test_the_hint_names_the_commands_that_take_the_ids() -> None:
    assert act_hint(HIT) == (
        "forget one: chatcli forget chat-1 m-42; fork from one: chatcli fork chat-1 NEW --at m-42"
    )
