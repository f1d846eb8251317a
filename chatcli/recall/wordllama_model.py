"""WordLlama's static embeddings (256 dimensions), from the weights its wheel ships.

A static model averages one stored vector per token: no network, no attention, thousands of
messages a second on one core, but word-order blind and weak at paraphrase.

wordllama 0.4 looks for its tokenizer under `<package>/tokenizer/`, while the wheel installs it
under `<package>/tokenizers/`; so a plain `WordLlama.load()` would go to the network. Giving
the package's own directory as `cache_dir` (whose `tokenizers/` subdirectory is where the
library looks in a cache) and `disable_download=True` loads both files from the wheel, and
fails with a clear error instead of downloading if they are missing."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from chatcli.recall.errors import EmbedderUnavailable
from chatcli.recall.vectors import unit_rows

CONFIG = "l2_supercat"
DIM = 256


class WordLlamaEmbedder:
    """The `Embedder` over WordLlama's packaged `l2_supercat` model at 256 dimensions."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @classmethod
    def load(cls) -> WordLlamaEmbedder:
        spec = find_spec("wordllama")
        if spec is None or spec.origin is None:
            raise EmbedderUnavailable(
                "the wordllama embedding model is not installed: pip install wordllama "
                "(or ./install.sh), or set server.embedding to another model"
            )
        from wordllama import WordLlama

        package_dir = Path(spec.origin).parent
        try:
            model = WordLlama.load(
                config=CONFIG, dim=DIM, cache_dir=package_dir, disable_download=True
            )
        except FileNotFoundError as exc:
            raise EmbedderUnavailable(
                f"wordllama's packaged model files are missing ({exc}): reinstall wordllama"
            ) from None
        return cls(model)

    @property
    def name(self) -> str:
        return f"wordllama-{CONFIG}-{DIM}"

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return unit_rows(self._model.embed(list(texts), norm=False))
