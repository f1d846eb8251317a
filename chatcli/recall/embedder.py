"""The seam between recall and the models that turn text into vectors.

The server indexes every message with one `Embedder` and searches with the same one; it never
knows which model it has. `name` is what a stored vector is tagged with, so that a change of
model (or of its dimension) is seen and the old vectors are re-embedded rather than mixed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the model and its settings: vectors tagged otherwise are stale."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array of shape (len(texts), dim), each row of unit length, so that a dot
        product is the cosine similarity. CPU- or network-bound: callers on an event loop run
        it in a thread."""
        ...
