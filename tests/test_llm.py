"""The LLM factory and the bundled local model, for real (no stand-in model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from chatcli.config import LLMSettings
from chatcli.errors import LLMError
from chatcli.llm import STOP, make_llm
from chatcli.local_models import LocalModels

LOCAL = LLMSettings(provider="local", max_tokens=24)
BOB = "You are a chatbot having a conversation with a human.\n\n\nHuman: hi im bob\nAI:"


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.seen.append(token)


def test_openai_provider_with_completions_api_is_a_completion_model() -> None:
    from langchain_openai import OpenAI

    llm = make_llm(LLMSettings(provider="openai", api="completions", base_url="http://127.0.0.1:9"))
    assert isinstance(llm, OpenAI)


def test_openai_provider_defaults_to_the_chat_api() -> None:
    from langchain_openai import ChatOpenAI

    llm = make_llm(LLMSettings(provider="openai", base_url="http://127.0.0.1:9"))
    assert isinstance(llm, ChatOpenAI)


def test_a_configured_model_file_that_does_not_exist_is_a_one_line_error(tmp_path: Path) -> None:
    settings = LLMSettings(provider="local", local_model_path=str(tmp_path / "none.gguf"))
    with pytest.raises(LLMError, match="is not a file"):
        make_llm(settings)


@pytest.mark.local_model
def test_the_bundled_model_is_loaded_once_by_the_commands_local_models() -> None:
    models = LocalModels()
    assert models.load(LOCAL) is models.load(LOCAL)


@pytest.mark.local_model
def test_the_bundled_model_streams_its_answer_token_by_token() -> None:
    tokens = Tokens()
    answer = make_llm(LOCAL).invoke(BOB, stop=STOP, config={"callbacks": [tokens]})
    assert answer.strip()
    assert "".join(tokens.seen) == answer


@pytest.mark.local_model
def test_the_bundled_model_answers_one_turn_and_stops() -> None:
    answer = make_llm(LOCAL, streaming=False).invoke(BOB, stop=STOP)
    assert "\nHuman:" not in answer
    assert "\n\n" not in answer
