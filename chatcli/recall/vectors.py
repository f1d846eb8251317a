"""The one rule for what an embedder hands back: float32 rows of unit length."""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1, as float32.

    A row of zeros (a text with no tokens the model knows, an empty string) stays zeros
    rather than becoming NaN: its cosine with anything is 0, so it is never anyone's
    nearest neighbour and never poisons a matrix product."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
