"""What the summarizer tests share: reading back a prompt's lines, and a `chatcli serve`
environment that summarizes through the scripted LLM."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.support.scripted_openai import ScriptedOpenAI


def summarized_lines(prompt: str) -> list[str]:
    """The conversation lines a progressive-summary prompt carried (after the worked example)."""
    tail = prompt.rsplit("New lines of conversation:\n", 1)[1]
    return tail.removesuffix("New summary:\n").rstrip("\n").split("\n")


def handed_to_summarizer(llm: ScriptedOpenAI) -> list[str]:
    """Every conversation line of every prompt the LLM received, in the order received."""
    return [line for request in list(llm.requests) for line in summarized_lines(request.prompt)]


def serve_env(llm: ScriptedOpenAI) -> dict[str, str]:
    """Own config and data dirs, the scripted LLM, and none of a developer's shell settings."""
    home = Path(tempfile.mkdtemp(prefix="chatcli-summaries-"))
    blank = [
        "REDIS_URL", "PORT", "MOTORHEAD_MAX_WINDOW_SIZE", "MOTORHEAD_MODEL", "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
    ]  # fmt: skip
    return {
        **dict.fromkeys(blank, ""),
        "CHATCLI_CONFIG_DIR": str(home / "config"),
        "CHATCLI_DATA_DIR": str(home / "data"),
        "CHATCLI_LLM_PROVIDER": "openai",
        "CHATCLI_LLM_BASE_URL": llm.base_url,
        "CHATCLI_LLM_API_KEY": "sk-test",
    }
