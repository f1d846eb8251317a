"""chatcli's MotorheadMemory: stateless, as Motörhead intends.

The stock class reads the session once (`init()`), then keeps a growing local copy
and ignores the server's summary: a long chat outgrows the model's context, and two
terminals on one session never see each other's turns. This one asks the server for
its window and summary on every turn and keeps nothing between turns.

The client is injected (whatever `open_memory` opened), so a chat's health check, its
LangChain memory and its REPL share one connection; the opener closes it, not this class.
Only the chain code (chatcli.conversation) imports this module: it imports LangChain.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from pydantic import PrivateAttr

from chatcli.errors import NeedsChatcliServer, RecallDisabled
from chatcli.memory.protocol import MemoryClient
from chatcli.memory.session import SessionMemory
from chatcli.prompt import (
    SUMMARY_PREFIX,
    chat_history_text,
    has_summary,
    recall_block,
    stored_reply,
)
from chatcli.server.validation import MAX_TRANSCRIPT_PAGE

RecallSink = Callable[[list[str]], None]
"""Shown the recall block a turn's prompt carries (for --verbose)."""

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.memory.motorhead_memory import MotorheadMemory


class ChatcliMotorheadMemory(MotorheadMemory):
    """`session_id` may be reassigned between turns: nothing local belongs to a session."""

    memory_key: str = "chat_history"
    input_key: str | None = "human_input"
    namespace: str | None = None
    """Sent with writes, so `chatcli sessions --namespace` lists the session."""
    recall: bool = True
    """Add the earlier messages most relevant to the input (memory.recall, /recall)."""
    recall_k: int = 3

    _client: MemoryClient = PrivateAttr()
    _on_recall: RecallSink | None = PrivateAttr(default=None)
    _long_term: bool = PrivateAttr(default=True)
    """False once the server said its long-term memory is off: not asked again."""

    def __init__(
        self, client: MemoryClient, on_recall: RecallSink | None = None, **data: Any
    ) -> None:
        # The seed's memory API is deprecated upstream; chatcli uses it on purpose.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(**data)
        self._client = client
        self._on_recall = on_recall

    @property
    def client(self) -> MemoryClient:
        """The stock class's `url` and `api_key` go unused: the client knows where to go."""
        return self._client

    async def init(self) -> None:
        """Nothing to preload: every turn reads the server afresh."""

    def load_memory_variables(self, values: dict[str, Any]) -> dict[str, Any]:
        memory = self.client.memory(self.session_id)
        self.context = memory.summary
        recall = self._recall(memory, str(values.get(self.input_key or "", "")))
        if not self.return_messages:
            return {self.memory_key: chat_history_text(memory.context, memory.messages, recall)}
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        messages: list[Any] = []
        if has_summary(memory.context):
            messages.append(SystemMessage(content=SUMMARY_PREFIX + str(memory.context).strip()))
        if recall:
            messages.append(SystemMessage(content="\n".join(recall)))
        for role, content in memory.messages:
            cls = AIMessage if role == "AI" else HumanMessage
            messages.append(cls(content=content))
        return {self.memory_key: messages}

    def _recall(self, memory: SessionMemory, text: str) -> list[str]:
        """The recall block for this input: none when nothing is beyond the window, when
        recall is off, or when the server's long-term memory is."""
        if not (self.recall and self._long_term and self.recall_k > 0 and text.strip()):
            return []
        if not self._beyond_window(memory):
            return []
        try:
            found = self.client.retrieve(self.session_id, text)
        except RecallDisabled:
            self._long_term = False
            return []
        near = [(r.role, r.content, r.dist) for r in found]
        block = recall_block(memory.messages, near, self.recall_k)
        if block and self._on_recall is not None:
            self._on_recall(block)
        return block

    def _beyond_window(self, memory: SessionMemory) -> bool:
        """Whether the session holds messages the window does not show. A summary says so
        (compaction moved them out); else the transcript is read just past the window's
        length, which costs a page read where /retrieval would embed the input. A
        Motörhead keeps no transcript: its own /retrieval answers."""
        if memory.summary is not None:
            return True
        if not memory.messages:
            return False
        if len(memory.messages) >= MAX_TRANSCRIPT_PAGE:
            return True
        try:
            page = self.client.transcript(self.session_id, limit=len(memory.messages) + 1)
        except NeedsChatcliServer:
            return True
        return len(page.messages) > len(memory.messages)

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, str]) -> None:
        human, ai = self._get_input_output(inputs, outputs)
        turn = [("Human", str(human)), ("AI", stored_reply(str(ai)))]
        self.client.append(self.session_id, turn, namespace=self.namespace)

    def clear(self) -> None:
        """Clearing a server-backed memory means deleting the session there."""
        self.delete_session()

    def delete_session(self) -> None:
        self.client.delete(self.session_id, self.namespace)
