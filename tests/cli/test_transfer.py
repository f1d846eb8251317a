"""The export format's pure parts: lines written, lines parsed, files refused, batches."""

from __future__ import annotations

import json

import pytest

from chatcli.memory.session import TranscriptMessage
from chatcli.transfer import (
    BATCH_BYTES,
    BATCH_MESSAGES,
    ExportedSession,
    ExportFormatError,
    batches,
    check_importable,
    header_line,
    markdown_lines,
    message_line,
    parse_export,
    session_lines,
)

HI = TranscriptMessage("m1", "Human", "héllo", 1_700_000_000_000, True)
ANSWER = TranscriptMessage("m2", "AI", " hi there", 1_700_000_001_000, False)


def exported(*messages: TranscriptMessage, session: str = "s1") -> ExportedSession:
    return ExportedSession(session, "ns", "Bob said hello.", 7, list(messages))


def test_a_header_line_has_the_documented_keys_in_order() -> None:
    line = header_line("s1", None, "a summary", 12)
    assert list(json.loads(line)) == [
        "type",
        "format",
        "version",
        "session",
        "namespace",
        "summary",
        "tokens",
    ]


def test_a_message_line_has_the_documented_keys_in_order() -> None:
    assert list(json.loads(message_line(HI))) == [
        "type",
        "id",
        "role",
        "content",
        "created_at",
        "summarized",
    ]


def test_lines_keep_non_ascii_text_as_it_is() -> None:
    assert "héllo" in message_line(HI)


def test_parsing_written_lines_gives_the_session_back() -> None:
    session = exported(HI, ANSWER)
    [back] = parse_export(session_lines(session))
    assert (back.session, back.namespace, back.summary, back.tokens, back.messages) == (
        "s1",
        "ns",
        "Bob said hello.",
        7,
        [HI, ANSWER],
    )


def test_writing_a_parsed_file_gives_the_same_lines() -> None:
    lines = list(session_lines(exported(HI, ANSWER)))
    assert [line for s in parse_export(lines) for line in session_lines(s)] == lines


def test_blank_lines_are_allowed() -> None:
    lines = [*session_lines(exported(HI)), "", "  "]
    assert len(parse_export(lines)[0].messages) == 1


def test_several_sessions_parse_in_order() -> None:
    lines = [*session_lines(exported(HI)), *session_lines(exported(ANSWER, session="s2"))]
    assert [s.session for s in parse_export(lines)] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "bad JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "note"}', '"type" must be'),
        (header_line("s2", None, None, 0).replace("chatcli-export", "other"), '"format"'),
        (header_line("s2", None, None, 0).replace('"version": 1', '"version": 2'), "version 2"),
        (header_line("s2", None, None, 0).replace('"tokens": 0', '"t": 0'), 'no "tokens"'),
        (header_line("bad id!", None, None, 0), "session id"),
        (message_line(ANSWER).replace('"role"', '"rôle"'), 'no "role"'),
        (message_line(ANSWER).replace("1700000001000", '"soon"'), "milliseconds"),
        (message_line(ANSWER).replace("false", '"no"'), "true or false"),
    ],
)
def test_a_bad_line_is_refused_by_its_number(bad: str, reason: str) -> None:
    lines = [*session_lines(exported(HI)), bad]
    with pytest.raises(ExportFormatError, match=reason) as refused:
        parse_export(lines)
    assert refused.value.line == 3
    assert "line 3" in refused.value.message


def test_a_message_before_any_header_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="line 1: a message before any session header"):
        parse_export([message_line(HI)])


def test_a_session_twice_in_one_file_is_refused() -> None:
    lines = [*session_lines(exported(HI)), *session_lines(exported(ANSWER))]
    with pytest.raises(ExportFormatError, match="line 3: session s1 appears twice"):
        parse_export(lines)


def test_the_servers_import_rules_name_the_files_line() -> None:
    bad = TranscriptMessage("no spaces allowed", "AI", "x", 1, False)
    [session] = parse_export([*session_lines(exported(HI)), message_line(bad)])
    with pytest.raises(ExportFormatError, match="line 3: id: invalid message id"):
        check_importable(session)


def test_batches_hold_at_most_the_batch_size() -> None:
    many = [TranscriptMessage(f"m{i}", "AI", "x", i, False) for i in range(2 * BATCH_MESSAGES + 1)]
    assert [len(b) for b in batches(many)] == [BATCH_MESSAGES, BATCH_MESSAGES, 1]


def test_long_messages_make_smaller_batches() -> None:
    long = "x" * (BATCH_BYTES // 2 + 1)
    many = [TranscriptMessage(f"m{i}", "AI", long, i, False) for i in range(3)]
    assert [len(b) for b in batches(many)] == [1, 1, 1]


def test_markdown_shows_the_summary_and_each_message_with_its_time() -> None:
    text = "\n".join(markdown_lines(exported(HI, ANSWER)))
    assert "# Session s1" in text
    assert "Bob said hello." in text
    assert "**Human** (2023-11-14 22:13:20 UTC, summarized): héllo" in text
    assert "**AI** (2023-11-14 22:13:21 UTC): hi there" in text
