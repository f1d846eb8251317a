"""Fact retention of the summary strategies, on the bundled model: which keeps the most.

Each chat in summaries_chats.json plants facts about the human. The chat is posted turn by
turn and compacted as the server does (window 12: when over it, everything but the newest
6 messages is summarized into the running summary, chained onto the one before). A fact
counts when its message was summarized, and survives when all its key words are in the
final summary. Printed, never asserted.

    python3 bench/summaries.py [--show] [--strategy NAME ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcli.config import LLMSettings
from chatcli.server.store import Message
from chatcli.server.summary import STRATEGIES, chunk_budget, summarize_chunks
from chatcli.server.summary_workers import SummaryModel

DATA = Path(__file__).with_name("summaries_chats.json")
WINDOW = 12
KEEP = WINDOW // 2


def survives(keys: list[str], summary: str) -> bool:
    return all(re.search(rf"\b{re.escape(k)}\w{{0,2}}\b", summary, re.IGNORECASE) for k in keys)


def compact(model: SummaryModel, strategy: str, turns: list[list[str]], budget: int):
    """The final summary, the indexes of the summarized messages, and the tokens spent."""
    stored: list[tuple[int, Message]] = []
    summarized: set[int] = set()
    context: str | None = None
    tokens = 0
    index = 0
    for human, ai in turns:
        for role, content in (("Human", human), ("AI", ai)):
            stored.append((index, Message(role, content)))
            index += 1
        if len(stored) > WINDOW:
            old, stored = stored[:-KEEP], stored[-KEEP:]
            context, spent = summarize_chunks(model, context, [m for _, m in old], budget, strategy)
            tokens += spent
            summarized.update(i for i, _ in old)
    return context or "", summarized, tokens


def planted_at(turns: list[list[str]], keys: list[str]) -> int:
    """The index of the first human message stating the fact."""
    for number, (human, _) in enumerate(turns):
        if survives(keys, human):
            return 2 * number
    raise ValueError(f"no human line states {keys}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print each final summary")
    parser.add_argument("--strategy", action="append", choices=STRATEGIES)
    args = parser.parse_args()
    chats = json.loads(DATA.read_text())["chats"]
    settings = LLMSettings(provider="local")
    model = SummaryModel(settings)
    model.build()
    budget = chunk_budget(settings)
    names = [c["name"].split(" ")[0] for c in chats]
    print("| strategy | " + " | ".join(names) + " | retained | LLM tokens | seconds |")
    print("|---" * (len(names) + 4) + "|", flush=True)
    for strategy in args.strategy or STRATEGIES:
        kept = total = tokens = 0
        cells = []
        started = time.perf_counter()
        for chat in chats:
            summary, summarized, spent = compact(model, strategy, chat["turns"], budget)
            tokens += spent
            due = [f for f in chat["facts"] if planted_at(chat["turns"], f["keys"]) in summarized]
            hits = [f for f in due if survives(f["keys"], summary)]
            kept += len(hits)
            total += len(due)
            cells.append(f"{len(hits)}/{len(due)}")
            if args.show:
                print(f"--- {strategy} / {chat['name']}\n{summary}\n", file=sys.stderr)
        seconds = time.perf_counter() - started
        retained = f"{kept}/{total} ({100 * kept / max(total, 1):.0f}%)"
        print(
            f"| {strategy} | " + " | ".join(cells) + f" | {retained} | {tokens} | {seconds:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
