"""The bundled model as a LangChain LLM, so the seed's LLMChain runs on it unchanged.

The bundled Gemma 3 270M is the base model, not the instruction-tuned one, and its GGUF
carries no chat template: it continues text. The seed's prompt is a transcript ending in
"AI:", which is exactly what a base model continues well, so the prompt goes in as raw
text. A base model also runs on into invented turns; the blank line and the next
speaker's tag end its answer. LangChain's LlamaCpp wrapper is not used because it loads
its own copy of the model; this one shares the command's loaded model with the
summarizer (see chatcli.local_models.LocalModels).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from langchain_core.outputs import GenerationChunk

from chatcli.local_models import LocalModels

BASE_MODEL_STOPS = ["\n\n", "\nHuman:", "\nAI:"]


class LocalLLM(LLM):
    model: Any
    """A llama.cpp model loaded by `models`."""
    models: LocalModels
    """The model's owner: its call lock serializes completions (llama.cpp contexts are not
    thread-safe), and holding it keeps what the model logs through alive with the model."""
    max_tokens: int = 512
    temperature: float = 0.2
    streaming: bool = True

    @property
    def _llm_type(self) -> str:
        return "chatcli-local-llama"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature}

    def _request(self, prompt: str, stop: list[str] | None, stream: bool) -> dict[str, Any]:
        return {
            "prompt": prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": sorted({*BASE_MODEL_STOPS, *(stop or [])}),
            "stream": stream,
        }

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        if self.streaming:
            return "".join(chunk.text for chunk in self._stream(prompt, stop, run_manager))
        with self.models.call_lock:
            result = self.model.create_completion(**self._request(prompt, stop, False))
        return result["choices"][0]["text"]

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        with self.models.call_lock:
            for part in self.model.create_completion(**self._request(prompt, stop, True)):
                text = part["choices"][0]["text"]
                if not text:
                    continue
                chunk = GenerationChunk(text=text)
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
