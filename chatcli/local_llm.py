"""The bundled model as a LangChain LLM, so the seed's LLMChain runs on it unchanged.

The bundled Gemma 3 270M is the base model, not the instruction-tuned one, and its GGUF
carries no chat template: it continues text. The seed's prompt is a transcript ending in
"AI:", which is exactly what a base model continues well, so the prompt goes in as raw
text. A base model also runs on into invented turns; the blank line and the next
speaker's tag end its answer. LangChain's LlamaCpp wrapper is not used because it loads
its own copy of the model; this one shares the process's single instance with the
summarizer (see chatcli.llm.load_local_model).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from langchain_core.outputs import GenerationChunk

from chatcli.llm import LOCAL_CALL_LOCK

BASE_MODEL_STOPS = ["\n\n", "\nHuman:", "\nAI:"]


class LocalLLM(LLM):
    model: Any
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
        with LOCAL_CALL_LOCK:
            result = self.model.create_completion(**self._request(prompt, stop, False))
        return result["choices"][0]["text"]

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        with LOCAL_CALL_LOCK:
            for part in self.model.create_completion(**self._request(prompt, stop, True)):
                text = part["choices"][0]["text"]
                if not text:
                    continue
                chunk = GenerationChunk(text=text)
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
