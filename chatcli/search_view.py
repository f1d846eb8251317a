"""How `chatcli search` and `/search` show hits: session, time, message id, role and text,
the words that matched highlighted on a terminal, one plain line a hit in a pipe.

The ids are printed in full: `chatcli forget SESSION ID` and `chatcli fork SESSION NEW
--at ID` take them.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from typing import TYPE_CHECKING

from chatcli.memory.session import Hit
from chatcli.prompt import speaker
from chatcli.render import ROLE_STYLES, is_plain
from chatcli.when import moment_text

if TYPE_CHECKING:
    from rich.console import Console

MATCH_STYLE = "bold yellow"
SHORTEST_WORD = 3
"""Query words shorter than this are not highlighted: "is", "my" and "a" match everywhere."""
UNMARKED = frozenset(
    {"and", "are", "but", "did", "does", "for", "how", "not", "the", "was", "what", "when"}
    | {"where", "which", "who", "why", "with", "you", "your", "about", "that", "this"}
)
"""Words too common to be what a search was for."""
WORD = re.compile(r"\w+")


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where `text` holds a word of `query` (case-insensitively, a longer word it begins
    too: "sister" marks "sisters"), as (start, end) offsets, in order."""
    words = {w.lower() for w in WORD.findall(query)}
    wanted = sorted(
        (w for w in words if len(w) >= SHORTEST_WORD and w not in UNMARKED), key=len, reverse=True
    )
    if not wanted:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, wanted)) + r")\w*", re.IGNORECASE)
    return [match.span() for match in pattern.finditer(text)]


def one_line(text: str) -> str:
    """A message's text on one line: a hit is one line in a pipe, whatever it held."""
    return " ".join(text.split())


def print_hits(
    console: Console, hits: list[Hit], query: str, *, raw: bool = False, zone: tzinfo | None = None
) -> None:
    """Nearest first, as the memory ranked them."""
    plain = raw or is_plain(console)
    for hit in hits:
        when = moment_text(hit.time, zone)
        role = hit.role or "?"
        content = one_line(hit.content)
        if plain:
            line = f"{hit.session_id}  {when}  {hit.id}  {role}: {content}"
            console.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)
            continue
        from rich.text import Text

        head = Text()
        head.append(hit.session_id, style="bold")
        head.append(f"  {when}  ", style="dim")
        head.append(hit.id, style="dim")
        body = Text(content)
        for start, end in match_spans(content, query):
            body.stylize(MATCH_STYLE, start, end)
        line = Text("  ")
        line.append(f"{role}: ", style=ROLE_STYLES[speaker(hit.role)])
        line.append_text(body)
        console.print(head)
        console.print(line)
