"""Embeddings from an OpenAI-compatible `/v1/embeddings` (OpenAI, Ollama, llama.cpp's server).

It uses the LLM's base URL and key, so a user who points chatcli at a server for chat gets
its embeddings by setting one key. It speaks HTTP with the standard library, as chatcli's
memory client does: this runs in the server, per indexed batch, and needs nothing more."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from chatcli.recall.errors import EmbedderError
from chatcli.recall.vectors import unit_rows

OPENAI_BASE_URL = "https://api.openai.com/v1"
BATCH = 256
"""Inputs per request: OpenAI takes up to 2048, local servers often far fewer at once."""


class OpenAIEmbedder:
    """The `Embedder` over a remote model; `dim` is learnt from one probe at open, so a
    stored vector's dimension is known before the first message is indexed."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.model = model
        self.url = (base_url or OPENAI_BASE_URL).rstrip("/") + "/embeddings"
        self._api_key = api_key
        self._timeout = timeout
        self._dim: int | None = None

    @classmethod
    def open(
        cls,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> OpenAIEmbedder:
        embedder = cls(model, base_url, api_key, timeout)
        embedder._dim = embedder._request(["dimension probe"]).shape[1]
        return embedder

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = self._request(["dimension probe"]).shape[1]
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._request(list(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        vectors = np.concatenate(parts)
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise EmbedderError(
                f"{self.url} returned {vectors.shape[1]}-dimensional embeddings after "
                f"{self._dim}-dimensional ones: is server.embedding_model still {self.model!r}?"
            )
        return unit_rows(vectors)

    def _request(self, texts: list[str]) -> np.ndarray:
        # An empty input is refused by OpenAI; a single space embeds as (nearly) nothing.
        body = json.dumps({"model": self.model, "input": [t or " " for t in texts]}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise EmbedderError(
                f"the embeddings service at {self.url} answered {exc.code}: {_reason(exc)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EmbedderError(
                f"cannot reach the embeddings service at {self.url} ({reason}): "
                "check llm.base_url, or set server.embedding to a local model"
            ) from None
        except ValueError:
            raise EmbedderError(f"the embeddings service at {self.url} sent no JSON") from None
        return _vectors(payload, len(texts), self.url)


def _vectors(payload: Any, count: int, url: str) -> np.ndarray:
    """The answer's rows in input order (`index`), or an error saying what was wrong."""
    try:
        rows = sorted(payload["data"], key=lambda item: item["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        raise EmbedderError(f"the embeddings service at {url} sent an unexpected answer") from None
    if vectors.ndim == 3:
        # llama-cpp-python's server does this for a model without a pooling layer (the
        # bundled Gemma): each text's answer is a matrix of per-token vectors.
        raise EmbedderError(
            f"the embeddings service at {url} sent a vector per token, not per text: "
            "serve an embedding model, or one with pooling (llama.cpp: --pooling mean)"
        )
    if vectors.ndim != 2 or vectors.shape[0] != count or vectors.shape[1] == 0:
        raise EmbedderError(
            f"the embeddings service at {url} sent {vectors.shape[0]} embeddings for {count} texts"
        )
    return vectors


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(exc.reason)
