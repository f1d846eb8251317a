"""`chatcli serve`'s indexer embeds in a worker process: the same vectors under the same name
as the server's own model, a worker that died replaced at the next batch, and the worker gone
with its embedder."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from chatcli.config import ServerSettings, Settings
from chatcli.recall.errors import EmbedderError
from chatcli.server.embedding import EmbedderHandle
from chatcli.server.embedding_worker import ProcessEmbedder
from tests.server.conftest import TEST_EMBEDDING
from tests.support import waiting

SETTINGS = Settings(server=ServerSettings(embedding=TEST_EMBEDDING))
TEXTS = ["Human: my sister lives in Lisbon", "AI: noted", "Human: what about the bees?"]


@pytest.fixture(scope="module")
def handle() -> Iterator[EmbedderHandle]:
    opened = EmbedderHandle.from_settings(SETTINGS, batch_process=True)
    yield opened
    opened.close()


def test_a_batch_is_embedded_as_the_servers_own_model_embeds_it(handle: EmbedderHandle) -> None:
    async def both() -> tuple[tuple[str, np.ndarray], tuple[str, np.ndarray]]:
        return await handle.embed_batch(TEXTS), await handle.embed(TEXTS)

    (batch_name, batch), (own_name, own) = asyncio.run(both())
    assert batch_name == own_name
    np.testing.assert_allclose(batch, own, rtol=1e-5, atol=1e-6)


def test_the_batch_is_embedded_in_another_process() -> None:
    embedder = ProcessEmbedder(SETTINGS)
    try:
        embedder.embed(TEXTS[:1])
        assert embedder.pid() not in (None, os.getpid())
    finally:
        embedder.close()


def test_a_killed_worker_fails_its_batch_and_the_next_batch_gets_a_new_one() -> None:
    embedder = ProcessEmbedder(SETTINGS)
    try:
        embedder.embed(TEXTS[:1])
        first = embedder.pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        waiting.wait_until(lambda: not _alive(first), "the worker's death", timeout=10, poll=0.05)
        with pytest.raises(EmbedderError, match="embedding worker process"):
            embedder.embed(TEXTS[:1])
        assert embedder.embed(TEXTS[:1]).shape[0] == 1
        assert embedder.pid() not in (None, first)
    finally:
        embedder.close()


def test_closing_the_embedder_ends_its_worker() -> None:
    embedder = ProcessEmbedder(SETTINGS)
    embedder.embed(TEXTS[:1])
    pid = embedder.pid()
    assert pid is not None
    embedder.close()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(") ", 1)[1][0] != "Z"
