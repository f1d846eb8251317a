"""Motörhead's progressive summary: the prompt, the token-budget chunking, the answer's
reading, and the `Summarizer` seam the compactor holds.

The prompt text and the budget (p50k_base: 4096 in all, 512 kept for the summary, 230 of
buffer) are Motörhead's, so a session moved over from Motörhead keeps getting summaries in
the same voice. Everything here is a plain function, tested without a model or a network;
the ways of running it against an LLM are in summary_workers.py.

Motörhead's prompt asks for a rewrite a 270M base model cannot do (the bundled Gemma
answered "Human: What is my name?" for a whole chat). bench/summaries.py measures four
strategies on chats with planted facts: Motörhead's prompt, a few-shot "Facts about the
human:" list the model continues, an extractive list of the human's own first-person
statements, and both lists merged. On the bundled model the extractive list kept every
planted fact (22/22) with no model call; Motörhead's prompt and the model's list kept 5/22
each, and merging the model's list in added only duplicates and inventions ("The human is
a cat"). `strategy_for` picks extractive for the local provider, Motörhead's for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from chatcli.server.store import Message, message_line
from chatcli.server.tokens import count_tokens, truncate_tokens

if TYPE_CHECKING:
    from chatcli.config import LLMSettings

MAX_TOKENS = 4096
SUMMARY_MAX_TOKENS = 512
BUFFER_TOKENS = 230
MAX_MESSAGE_TOKENS = MAX_TOKENS - SUMMARY_MAX_TOKENS - BUFFER_TOKENS
NONE_ANSWER = "NONE"
SYSTEM_MESSAGE = "You are a helpful AI assistant."

# Motörhead's text (src/reducer.rs), byte for byte: it sits in a Rust raw string there, so
# the \" around the nicknames reach the model as a backslash and a quote.
PROMPT_TEMPLATE = r"""
Progressively summarize the lines of conversation provided, adding onto the previous summary returning a new summary. If the lines are meaningless just return NONE

EXAMPLE
Current summary:
The human asks who is the lead singer of Motorhead. The AI responds Lemmy Kilmister.
New lines of conversation:
Human: What are the other members of Motorhead?
AI: The original members included Lemmy Kilmister (vocals, bass), Larry Wallis (guitar), and Lucas Fox (drums), with notable members throughout the years including \"Fast\" Eddie Clarke (guitar), Phil \"Philthy Animal\" Taylor (drums), and Mikkey Dee (drums).
New summary:
The human asks who is the lead singer and other members of Motorhead. The AI responds Lemmy Kilmister is the lead singer and other original members include Larry Wallis, and Lucas Fox, with notable past members including \"Fast\" Eddie Clarke, Phil \"Philthy Animal\" Taylor, and Mikkey Dee.
END OF EXAMPLE

Current summary:
{summary}
New lines of conversation:
{lines}
New summary:
"""  # noqa: E501


class Summarizer(Protocol):
    async def summarize(self, context: str | None, messages: list[Message]) -> tuple[str, int]:
        """The new summary of `context` followed by `messages` (oldest first), and the
        LLM tokens spent on it."""
        ...

    def warm(self) -> None:
        """Build the model now. A long-running server does this before it listens: the
        first build imports LangChain for seconds, holding the GIL against every request,
        and a model that cannot be built is better said at start than at the first summary.
        """
        ...

    def close(self) -> None:
        """Stop what runs summaries and release it; a summary in flight is not committed
        yet, so ending it loses nothing."""
        ...


class SummaryFailed(Exception):
    """A summary failed where its exception could not travel (a worker process): the
    failure as plain data, its exception's class name and first line."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def failure_line(exc: BaseException) -> str:
    """One line naming what failed: the class and the first line of its message, for
    a failure raised here or reported by a worker."""
    if isinstance(exc, SummaryFailed):
        return str(exc)
    text = str(exc)
    detail = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def build_prompt(context: str | None, lines: Sequence[str]) -> str:
    return PROMPT_TEMPLATE.format(summary=context or "", lines="\n".join(lines))


def chunk_lines(lines: Sequence[str], budget: int = MAX_MESSAGE_TOKENS) -> list[list[str]]:
    """Consecutive groups of lines, each within `budget` tokens, in order.

    Same greedy packing as Motörhead, except that a line alone over the budget becomes a
    chunk of its own, truncated, where Motörhead would send an empty chunk and stall.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in lines:
        size = count_tokens(line)
        if size > budget:
            # Only a single message bigger than a whole chunk gets here; cutting it lets the
            # summary cover its start instead of the compaction failing on it forever.
            line = truncate_tokens(line, budget)
            size = count_tokens(line)
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += size
    if current:
        chunks.append(current)
    return chunks


EXAMPLE_SUMMARY = "The human asks who is the lead singer and other members of Motorhead."
"""The worked example's answer: a small model that returns it has copied, not summarized."""
SCAFFOLDING = (
    "END OF",
    "EXAMPLE",
    "Current summary:",
    "New lines of conversation:",
    "New summary:",
)


def clean_answer(answer: str) -> str:
    """The summary part of an answer, without what a small model runs on into.

    Small models (the bundled Gemma 270M is a base model) continue the prompt's layout
    ("END OF SUMMARY", a new "Current summary:") or loop on one line; a real summary
    contains neither, so cutting there costs a capable model nothing.
    """
    kept: list[str] = []
    for line in answer.strip().splitlines():
        text = line.strip()
        if text.startswith(SCAFFOLDING) or (text and text in kept):
            break
        kept.append(text)
    return "\n".join(kept).strip()


def transcript_summary(previous: str | None, lines: Sequence[str]) -> str:
    """The previous summary and the lines themselves, cut from the oldest end to the size of
    a summary: what is kept when the model answers with the worked example instead."""
    parts = [p for p in [previous, *lines] if p]
    while len(parts) > 1 and count_tokens("\n".join(parts)) > SUMMARY_MAX_TOKENS:
        parts.pop(0)
    return truncate_tokens("\n".join(parts), SUMMARY_MAX_TOKENS)


def next_summary(previous: str | None, lines: Sequence[str], answer: str) -> str | None:
    """The summary after one chunk, given the model's answer to its prompt.

    NONE (or nothing) means the lines were meaningless: keep what we had, as Motörhead
    does. A copy of the worked example would put Motörhead trivia into the user's chat
    prompt; the transcript is kept instead, so the lines are not lost.
    """
    text = clean_answer(answer)
    if not text or text == NONE_ANSWER:
        return previous
    if EXAMPLE_SUMMARY in text and not any(EXAMPLE_SUMMARY in line for line in lines):
        return transcript_summary(previous, lines)
    return text


LLMCall = Callable[[str], tuple[str, int | None]]
"""Prompt in, (answer, tokens the LLM reports or None) out; blocking."""

Strategy = Literal["motorhead", "facts", "extractive", "combined"]
STRATEGIES: tuple[Strategy, ...] = ("motorhead", "facts", "extractive", "combined")


def _spent(prompt: str, answer: str, reported: int | None) -> int:
    return reported if reported is not None else count_tokens(prompt) + count_tokens(answer)


def motorhead_step(
    call: LLMCall, summary: str | None, chunk: Sequence[str]
) -> tuple[str | None, int]:
    """One chunk through Motörhead's progressive-summary prompt."""
    prompt = build_prompt(summary, chunk)
    answer, reported = call(prompt)
    return next_summary(summary, chunk, answer), _spent(prompt, answer, reported)


FACTS_PROMPT = """Facts about the human, from their conversation with an AI.

Conversation:
Human: hi, i'm Ana and I live in Porto
AI: Nice to meet you, Ana!
Human: what's the weather like?
AI: I can't check the weather.
Human: I work as a nurse at the city hospital
Facts about the human:
- The human's name is Ana.
- The human lives in Porto.
- The human works as a nurse at the city hospital.

Conversation:
{lines}
Facts about the human:
- """
"""A few-shot list a base model continues: one fact a line, ended by a blank line (a stop
of the local model's)."""

FACTS_EXAMPLE_WORDS = ("ana", "porto", "nurse")
"""A fact naming these, with none of them in the lines, was copied from the example."""

FIRST_PERSON = re.compile(r"\b(i|i'm|im|i am|i've|ive|my|mine|myself)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*[;\n]\s*")
FACT_PREFIX = "- "


def fact_lines(summary: str | None) -> list[str]:
    """The facts of a facts summary ('- ' lines); any other summary is one fact."""
    if not summary:
        return []
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    return [line.removeprefix(FACT_PREFIX).strip() for line in lines]


def _key(fact: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", fact.lower()))


def merge_facts(known: Sequence[str], new: Sequence[str], budget: int = SUMMARY_MAX_TOKENS) -> str:
    """The known facts then the new ones, each once, as a '- ' list within `budget` tokens.

    Over the budget the oldest facts go, except the first (most often the human's name):
    what was said recently is what the next turns build on.
    """
    facts: list[str] = []
    seen: set[str] = set()
    for fact in [*known, *new]:
        key = _key(fact)
        if key and key not in seen:
            seen.add(key)
            facts.append(fact)

    def text(items: list[str]) -> str:
        return "\n".join(FACT_PREFIX + fact for fact in items)

    while len(facts) > 2 and count_tokens(text(facts)) > budget:
        del facts[1]
    return truncate_tokens(text(facts), budget)


def extract_facts(lines: Sequence[str]) -> list[str]:
    """The human's own statements about themselves: the sentences of their lines that speak
    in the first person and are not questions. Taken verbatim, so nothing is invented."""
    facts: list[str] = []
    for line in lines:
        role, _, content = line.partition(": ")
        if role != "Human":
            continue
        for sentence in SENTENCE_END.split(content):
            text = sentence.strip()
            if (
                text
                and not text.endswith("?")
                and FIRST_PERSON.search(text)
                and len(text.split()) >= 3
            ):
                facts.append(text.rstrip(".!"))
    return facts


def build_facts_prompt(lines: Sequence[str]) -> str:
    """The lines' facts only: the known ones are merged in afterwards. Opening the list with
    them made the bundled model repeat and number them until it ran out of tokens."""
    return FACTS_PROMPT.format(lines="\n".join(lines))


GENERIC_WORDS = frozenset(
    [
        "the",
        "human",
        "human's",
        "humans",
        "name",
        "named",
        "their",
        "they",
        "with",
        "from",
        "that",
        "this",
        "have",
        "has",
        "does",
        "likes",
        "lives",
        "live",
        "works",
        "work",
        "called",
        "also",
        "very",
    ]
)
NUMBERING = re.compile(r"^\d+[.)]\s*")


def grounded(fact: str, lines: Sequence[str]) -> bool:
    """Whether a model's fact names something the lines say: a base model also lists
    plausible facts of its own ("The human works as a teacher"), and those are dropped."""
    said = set(re.findall(r"[a-z0-9]+", " ".join(lines).lower()))
    words = {w for w in re.findall(r"[a-z0-9]+", fact.lower()) if len(w) > 2}
    return bool((words - GENERIC_WORDS) & said)


def parse_facts(answer: str, lines: Sequence[str]) -> list[str]:
    """The facts a model listed that the lines bear out: its first line continues the open
    '- ', later ones are '- ' lines; anything else, or a fact repeated (a small model loops),
    ends the list. Facts from the worked example are dropped."""
    said = " ".join(lines).lower()
    facts: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(answer.strip("\n").splitlines()):
        line = raw.strip()
        if index > 0:
            if not line.startswith(FACT_PREFIX.strip()):
                break
            line = line.lstrip("-").strip()
        line = NUMBERING.sub("", line)
        if not line or line.startswith(SCAFFOLDING) or line.endswith(":") or _key(line) in seen:
            break
        seen.add(_key(line))
        lowered = line.lower()
        if any(w in lowered and w not in said for w in FACTS_EXAMPLE_WORDS):
            continue
        if grounded(line, lines):
            facts.append(line)
    return facts


def model_facts(call: LLMCall, chunk: Sequence[str]) -> tuple[list[str], int]:
    prompt = build_facts_prompt(chunk)
    answer, reported = call(prompt)
    return parse_facts(answer, chunk), _spent(prompt, answer, reported)


def facts_step(call: LLMCall, summary: str | None, chunk: Sequence[str]) -> tuple[str | None, int]:
    """One chunk through the few-shot facts list: the known facts plus the model's new ones."""
    new, spent = model_facts(call, chunk)
    return merge_facts(fact_lines(summary), new) or summary, spent


def extractive_step(
    call: LLMCall, summary: str | None, chunk: Sequence[str]
) -> tuple[str | None, int]:
    """One chunk without a model: the known facts plus the human's statements in it."""
    return merge_facts(fact_lines(summary), extract_facts(chunk)) or summary, 0


def combined_step(
    call: LLMCall, summary: str | None, chunk: Sequence[str]
) -> tuple[str | None, int]:
    """The human's own statements first (verbatim), then what the model's list adds."""
    new, spent = model_facts(call, chunk)
    merged = merge_facts(fact_lines(summary), [*extract_facts(chunk), *new])
    return merged or summary, spent


Step = Callable[[LLMCall, str | None, Sequence[str]], tuple[str | None, int]]
STEPS: dict[Strategy, Step] = {
    "motorhead": motorhead_step,
    "facts": facts_step,
    "extractive": extractive_step,
    "combined": combined_step,
}


def summarize_chunks(
    call: LLMCall,
    context: str | None,
    messages: Sequence[Message],
    budget: int = MAX_MESSAGE_TOKENS,
    strategy: Strategy = "motorhead",
) -> tuple[str, int]:
    """Run the chunks through `call`, each chunk's summary becoming the next one's context.

    Returns the final summary ('' when every chunk was meaningless and there was no summary
    before) and the tokens used: as reported, or counted over prompt and answer.
    """
    step = STEPS[strategy]
    summary = context
    total = 0
    for chunk in chunk_lines([message_line(m) for m in messages], budget):
        summary, spent = step(call, summary, chunk)
        total += spent
    return summary or "", total


def strategy_for(llm_settings: LLMSettings) -> Strategy:
    """Motörhead's prompt for OpenAI-compatible models, which can follow it; for the bundled
    base model, the strategy that kept the most planted facts in bench/summaries.py."""
    from chatcli.config import resolve_provider

    return LOCAL_STRATEGY if resolve_provider(llm_settings) == "local" else "motorhead"


LOCAL_STRATEGY: Strategy = "extractive"


def chunk_budget(llm_settings: LLMSettings) -> int:
    """Motörhead's budget for the lines of one prompt, or, for a local model, what its
    context leaves after the answer, the current summary and the prompt's own text.

    Motörhead sized its budget for a 4096-token OpenAI model and left the current summary
    out; a local model's context (2048 by default) must hold all of it, or llama.cpp
    refuses the prompt and the compaction could never succeed.
    """
    from chatcli.config import resolve_provider

    if resolve_provider(llm_settings) != "local":
        return MAX_MESSAGE_TOKENS
    own_text = max(count_tokens(build_prompt(None, [])), count_tokens(build_facts_prompt([])))
    reserved = 2 * SUMMARY_MAX_TOKENS + own_text
    return max(64, min(MAX_MESSAGE_TOKENS, llm_settings.context_size - reserved))
