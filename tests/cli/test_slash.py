"""The REPL's input grammar: slash commands, messages, and \"\"\" blocks."""

from __future__ import annotations

import pytest

from chatcli.slash import COMMANDS, BlockReader, Slash, help_text, parse_line, session_id_problem


def test_plain_text_is_a_message_without_surrounding_blanks() -> None:
    assert parse_line("  hi im bob \n") == "hi im bob"


def test_blank_line_is_nothing_to_send() -> None:
    assert parse_line("   ") is None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_parses_to_its_name(name: str) -> None:
    line = f"/{name} chat-1" if name == "session" else f"/{name}"
    assert parse_line(line) == Slash(name, "chat-1" if name == "session" else None)


@pytest.mark.parametrize("alias", ["/quit", "/q", "/QUIT", "/exit"])
def test_quit_and_its_spellings_mean_exit(alias: str) -> None:
    assert parse_line(alias) == Slash("exit")


@pytest.mark.parametrize("alias", ["/h", "/?", "/HELP"])
def test_help_and_its_spellings(alias: str) -> None:
    assert parse_line(alias) == Slash("help")


def test_session_takes_the_id_that_follows() -> None:
    assert parse_line("/session  work-2026 ") == Slash("session", "work-2026")


def test_session_alone_asks_for_the_current_one() -> None:
    assert parse_line("/session") == Slash("session")


def test_session_with_an_invalid_id_carries_the_reason() -> None:
    parsed = parse_line("/session has space")
    assert isinstance(parsed, Slash)
    assert parsed.name == "session"
    assert parsed.error is not None and "invalid session id" in parsed.error


def test_unknown_command_gets_a_hint_naming_help() -> None:
    parsed = parse_line("/frobnicate now")
    assert parsed == Slash(
        "unknown", "frobnicate", "unknown command /frobnicate: type /help for the commands"
    )


def test_a_command_that_takes_no_argument_refuses_one() -> None:
    parsed = parse_line("/new please")
    assert isinstance(parsed, Slash)
    assert parsed.error == "/new takes no argument"


def test_double_slash_sends_a_message_starting_with_slash() -> None:
    assert parse_line("//usr/bin is a directory") == "/usr/bin is a directory"


def test_a_lone_slash_or_slash_space_is_a_message() -> None:
    assert parse_line("/") == "/"
    assert parse_line("/ what") == "/ what"


@pytest.mark.parametrize("good", ["chat-20261129-abc123", "bob", "a.b:c@d_e", "x" * 256])
def test_valid_session_ids(good: str) -> None:
    assert session_id_problem(good) is None


@pytest.mark.parametrize("bad", ["", "-leading", "has space", "a/b", "x" * 257, "é"])
def test_invalid_session_ids(bad: str) -> None:
    assert session_id_problem(bad) is not None


def test_help_lists_every_command() -> None:
    text = help_text()
    for name in COMMANDS:
        assert f"/{name}" in text


def test_block_collects_lines_between_triple_quotes() -> None:
    reader = BlockReader()
    assert reader.wants('"""')
    assert reader.feed('"""') is None
    assert reader.open
    assert reader.feed("line one") is None
    assert reader.feed("  indented") is None
    assert reader.feed('"""') == "line one\n  indented"
    assert not reader.open


def test_block_keeps_text_on_the_opening_and_closing_lines() -> None:
    reader = BlockReader()
    assert reader.feed('"""first') is None
    assert reader.feed('last"""') == "first\nlast"


def test_block_on_one_line() -> None:
    assert BlockReader().feed('"""all in one"""') == "all in one"


def test_block_does_not_parse_slash_commands_inside() -> None:
    reader = BlockReader()
    reader.feed('"""')
    assert reader.wants("/exit")
    assert reader.feed("/exit") is None
    assert reader.feed('"""') == "/exit"


def test_ordinary_line_is_not_for_the_block_reader() -> None:
    assert not BlockReader().wants("hello")


def test_every_command_has_a_handler_in_the_repl_and_every_handler_a_command() -> None:
    from chatcli.repl.chat import HANDLERS

    assert set(HANDLERS) == set(COMMANDS)


def test_an_invalid_session_id_is_refused_in_the_servers_words() -> None:
    from chatcli.server.validation import ID_RULE

    assert session_id_problem("a b") == f"invalid session id 'a b': {ID_RULE}"


def test_fork_takes_the_new_sessions_id() -> None:
    assert parse_line("/fork  work-2 ") == Slash("fork", "work-2")


def test_fork_to_an_invalid_id_is_refused_in_the_servers_words() -> None:
    assert parse_line("/fork a/b") == Slash("fork", "a/b", session_id_problem("a/b"))


def test_forget_takes_a_message_id() -> None:
    assert parse_line("/forget 01m8st78kp000001") == Slash("forget", "01m8st78kp000001")


def test_undo_takes_no_argument() -> None:
    assert parse_line("/undo 2") == Slash("undo", "2", "/undo takes no argument")


def test_recall_takes_on_or_off() -> None:
    assert parse_line("/recall OFF") == Slash("recall", "off")
    assert parse_line("/recall on") == Slash("recall", "on")


def test_recall_alone_asks_for_the_state() -> None:
    assert parse_line("/recall") == Slash("recall")


def test_recall_refuses_anything_but_on_or_off() -> None:
    slash = parse_line("/recall maybe")
    assert isinstance(slash, Slash) and slash.error == "/recall takes on or off, not 'maybe'"


def test_search_takes_every_word_after_it() -> None:
    assert parse_line("/search my sister  Ana") == Slash("search", "my sister  Ana")
