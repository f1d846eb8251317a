"""`--since WHEN` read as the transcript's clock, and what the summary line says it covers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatcli.errors import UsageError
from chatcli.pager import pager_command
from chatcli.transcript_view import summary_label
from chatcli.when import since_ms

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("given", "back_ms"),
    [
        ("90s", 90_000),
        ("15m", 900_000),
        ("2h", 7_200_000),
        ("3d", 259_200_000),
        ("1W", 604_800_000),
    ],
)
def test_an_age_counts_back_from_now(given: str, back_ms: int) -> None:
    assert since_ms(given, NOW) == NOW - back_ms


def test_an_iso_time_with_an_offset_is_that_moment() -> None:
    moment = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    assert since_ms("2024-05-01T14:00+00:00", NOW) == int(moment.timestamp() * 1000)


def test_an_iso_date_is_its_local_midnight() -> None:
    assert since_ms("2024-05-01", NOW) == int(datetime(2024, 5, 1).timestamp() * 1000)


@pytest.mark.parametrize("given", ["yesterday", "2h ago", "-1d", "", "2024-13-01"])
def test_anything_else_is_a_usage_error(given: str) -> None:
    with pytest.raises(UsageError, match="invalid --since"):
        since_ms(given, NOW)


@pytest.mark.parametrize(
    ("above", "earlier", "said"),
    [
        (2, 0, "summary of the 2 messages above"),
        (1, 0, "summary of the 1 message above"),
        (0, 3, "summary of 3 messages earlier"),
        (2, 3, "summary of the 2 messages above and 3 earlier"),
        (0, 0, "summary"),
    ],
)
def test_the_summary_line_says_what_it_covers(above: int, earlier: int, said: str) -> None:
    assert summary_label(above, earlier) == said


@pytest.mark.parametrize("pager", ["", "  ", "cat"])
def test_an_empty_or_cat_pager_means_none(pager: str) -> None:
    assert pager_command({"PAGER": pager}) is None


def test_pager_is_run_as_given() -> None:
    assert pager_command({"PAGER": "less -S"}) == "less -S"
