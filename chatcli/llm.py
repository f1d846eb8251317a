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
        return OpenAI(**kwargs)
    return ChatOpenAI(**kwargs)


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
