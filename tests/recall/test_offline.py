"""The packaged models load and embed with the network unreachable: nothing downloads."""

from __future__ import annotations

import socket

import pytest

from chatcli.config import ServerSettings, Settings
from chatcli.recall.open import open_embedder
from tests.support.offline import is_loopback, network_refused


@pytest.mark.parametrize("kind", ["local", "minilm", "wordllama"])
def test_a_packaged_model_loads_and_embeds_offline(kind: str) -> None:
    with network_refused() as refused:
        embedder = open_embedder(Settings(server=ServerSettings(embedding=kind)))
        vectors = embedder.embed(["User: does this need the internet?"])
    assert vectors.shape == (1, embedder.dim)
    assert refused == []


def test_the_guard_refuses_lookups_of_names_outside_loopback() -> None:
    with network_refused() as refused, pytest.raises(socket.gaierror):
        socket.getaddrinfo("huggingface.co", 443)
    assert refused == ["huggingface.co"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.0.9", "::1", "localhost"])
def test_the_guard_lets_loopback_through(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "192.0.2.7", "2001:db8::1", "huggingface.co"])
def test_the_guard_stops_everything_else(host: str) -> None:
    assert not is_loopback(host)
