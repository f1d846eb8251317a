"""One conversation: the seed's LLMChain (bob prompt + Motörhead memory + LLM), turn by turn.

`ask` runs one turn and the REPL many; both come here so a conversation can move
between them. The LLM is built on the first turn and reused, the memory re-reads the
server every turn, and LangChain's verbose trace goes to `trace`, never to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from chatcli.config import Settings
from chatcli.errors import LLMError
from chatcli.llm import STOP, make_llm
from chatcli.prompt import INPUT_VARIABLES, template

if TYPE_CHECKING:
    from chatcli.local_models import LocalModels
    from chatcli.memory.protocol import MemoryClient

TokenSink = Callable[[str], None]


class Conversation:
    def __init__(
        self,
        settings: Settings,
        client: MemoryClient,
        session_id: str,
        *,
        verbose: bool = False,
        trace: IO[str] | None = None,
        models: LocalModels | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        """Loads a local model: the command's, shared with its embedded summarizer."""
        self.client = client
        self.session_id = session_id
        self.verbose = verbose
        self.recall = settings.memory.recall
        """Long-term recall in the prompt (memory.recall); /recall changes it for a chat."""
        self.trace = trace
        self._chain: Any = None
        self._memory: Any = None

    def _build(self) -> Any:
        if self._chain is not None:
            return self._chain
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_classic.chains import LLMChain
            from langchain_core.prompts import PromptTemplate

            from chatcli.memory.langchain import ChatcliMotorheadMemory

            # LangChain's imports add a filter that surfaces its deprecation warnings
            # (LLMChain, the memory classes); the seed's API is the point, so silence them.
            warnings.simplefilter("ignore")
            llm = make_llm(self.settings.llm, models=self.models)
            self._memory = ChatcliMotorheadMemory(
                self.client,
                on_recall=self._show_recall,
                session_id=self.session_id,
                namespace=self.settings.memory.namespace,
                recall_k=self.settings.memory.recall_k,
            )
            prompt = PromptTemplate(
                input_variables=INPUT_VARIABLES, template=template(self.settings.chat.system)
            )
            self._chain = LLMChain(llm=llm, prompt=prompt, memory=self._memory, verbose=False)
        return self._chain

    def turn(
        self, text: str, on_token: TokenSink | None = None, *, callbacks: list[Any] | None = None
    ) -> str:
        """One exchange; Human+AI are saved only after the whole answer has arrived.

        Returns the raw answer (the seed's answers start with a space and are stored so).
        `callbacks` are extra LangChain callback handlers for this turn (the bench times
        the LLM call with one).
        """
        chain = self._build()
        self._memory.session_id = self.session_id
        self._memory.recall = self.recall
        chain.verbose = self.verbose
        sink = _token_sink(on_token)
        trace = self._trace()
        redirect = contextlib.redirect_stdout(trace) if self.verbose else contextlib.nullcontext()
        try:
            with redirect:
                result = chain.invoke(
                    {"human_input": text, "stop": STOP},
                    config={"callbacks": [sink, *(callbacks or [])]},
                )
        except Exception as exc:
            error = llm_error(exc, self.settings)
            if error is None:
                raise
            raise error from None
        answer = str(result[chain.output_key])
        if on_token is not None and not sink.seen:
            on_token(answer)
        return answer

    def _trace(self) -> IO[str]:
        return self.trace if self.trace is not None else sys.stderr

    def _show_recall(self, block: list[str]) -> None:
        """--verbose: what recall put in this turn's prompt, ahead of LangChain's trace."""
        if not self.verbose:
            return
        lines = block[1:]
        trace = self._trace()
        count = "1 message" if len(lines) == 1 else f"{len(lines)} messages"
        print(f"> Recalled {count} from beyond the window:", file=trace)
        for line in lines:
            print(f"  {line}", file=trace)
        trace.flush()

    def close(self) -> None:
        """Nothing to release: `client` belongs to whoever opened it (open_memory)."""


def _token_sink(on_token: TokenSink | None) -> Any:
    return _token_sink_class()(on_token)


@functools.cache
def _token_sink_class() -> type:
    """Made once, on the first turn: LangChain is imported only by then."""
    from langchain_core.callbacks import BaseCallbackHandler

    class TokenSinkHandler(BaseCallbackHandler):
        """Passes streamed tokens on; `seen` tells a streaming model from one that is not."""

        def __init__(self, on_token: TokenSink | None) -> None:
            self.on_token = on_token
            self.seen = False

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            if token:
                self.seen = True
                if self.on_token is not None:
                    self.on_token(token)

    return TokenSinkHandler


def llm_error(exc: BaseException, settings: Settings) -> LLMError | None:
    """The OpenAI client's failures as one line naming the fix; None for anything else."""
    import openai

    # langchain_openai raises its own subclasses of openai's errors (OpenAIAPIError on a
    # failed stream), so the test is the class, not the module it comes from.
    if not isinstance(exc, openai.OpenAIError):
        return None

    where = settings.llm.base_url or "https://api.openai.com/v1"
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(
            f"the LLM at {where} did not answer within {settings.llm.timeout:g}s: "
            "check the server, or raise llm.timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(
            f"the LLM at {where} is not answering: check llm.base_url / OPENAI_API_BASE "
            "and that the server is running, or use --llm local"
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMError(
            f"the LLM at {where} refused the API key: set llm.api_key or OPENAI_API_KEY"
        )
    if isinstance(exc, openai.NotFoundError):
        return LLMError(
            f"the LLM at {where} has no model {settings.llm.model!r} (or no such API): "
            "set llm.model / -m, or llm.api to chat or completions"
        )
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"the LLM at {where} failed: {exc.status_code} {_one_line(exc)}")
    return LLMError(f"the LLM at {where} failed: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]
