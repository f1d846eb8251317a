"""One place that turns LLM settings into a LangChain model, for the chat and the summarizer.

Imports of LangChain integrations and llama.cpp happen inside the functions, so
commands that never talk to a model never pay for them. A local model comes from the
command's `LocalModels`, which owns the loaded llama.cpp models.
"""

from __future__ import annotations

from typing import Any

from chatcli.config import LLMSettings, resolve_provider
from chatcli.errors import LLMError
from chatcli.local_models import LocalModels

STOP = ["\nHuman:"]
"""The bob prompt's turns are 'Human:'/'AI:' lines; a completion must end before the next one."""

COMPLETION_STOPS = ["\n\n", "\nHuman:", "\nAI:", "\nhuman:"]
"""What ends an answer on the completions API, besides the caller's stops.

The completions API is for base models (llama.cpp's server with the bundled Gemma, which
has no chat template): a base model continues the transcript past its turn, into a blank
line and a new paragraph of anything, up to max_tokens. The chat API's answers are whole
messages, so chat models get only the caller's stops, as before. The local provider's
(chatcli.local_llm.BASE_MODEL_STOPS), and the lower-case turn the bundled Gemma invents on
llama.cpp's server; OpenAI allows four at most, so the caller's come after these.
"""


def make_llm(
    settings: LLMSettings, streaming: bool | None = None, *, models: LocalModels | None = None
) -> Any:
    """A LangChain language model for the configured provider.

    `streaming` overrides settings.stream (the summarizer never needs tokens one by one).
    A local model is loaded by `models`, the command's, so the chat and the summarizer
    share it; without one, the model gets an owner of its own.
    """
    stream = settings.stream if streaming is None else streaming
    provider = resolve_provider(settings)
    if provider == "openai":
        return _openai(settings, stream)
    return _local(settings, stream, models or LocalModels())


def _openai(settings: LLMSettings, stream: bool) -> Any:
    from langchain_openai import ChatOpenAI, OpenAI

    kwargs: dict[str, Any] = {
        "model": settings.model,
        "api_key": settings.api_key or "not-needed",
        "max_tokens": settings.max_tokens,
        "timeout": settings.timeout,
        "max_retries": 1,
        "streaming": stream,
    }
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    if settings.api == "completions":
        return _completions_model(OpenAI)(**kwargs)
    return ChatOpenAI(**kwargs)


def _completions_model(base: type) -> type:
    """LangChain's completions model with COMPLETION_STOPS added to every request's stops.

    A subclass, because LangChain replaces the model's own stop list with the caller's
    (the chain passes STOP) instead of adding to it.
    """

    class CompletionsOpenAI(base):  # type: ignore[misc, valid-type]
        def get_sub_prompts(
            self, params: dict[str, Any], prompts: list[str], stop: list[str] | None = None
        ) -> list[list[str]]:
            merged = [*COMPLETION_STOPS, *(s for s in stop or [] if s not in COMPLETION_STOPS)]
            return super().get_sub_prompts(params, prompts, merged[:4])

    return CompletionsOpenAI


def _local(settings: LLMSettings, stream: bool, models: LocalModels) -> Any:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise LLMError(
            "llama-cpp-python is not installed: pip install 'chatcli[local]', "
            "or set OPENAI_API_KEY / llm.base_url to use an OpenAI-compatible server"
        ) from None
    from chatcli.local_llm import LocalLLM

    model = models.load(settings)
    kwargs: dict[str, Any] = {"model": model, "models": models, "max_tokens": settings.max_tokens}
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    return LocalLLM(**kwargs, streaming=stream)
