"""What every embedder hands back: float32 rows of unit length, zeros left as zeros."""

from __future__ import annotations

import numpy as np

from chatcli.recall.vectors import unit_rows


def test_rows_are_scaled_to_unit_length() -> None:
    rows = unit_rows(np.asarray([[3.0, 4.0], [0.0, 2.0]]))
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 1.0]])


def test_rows_come_back_as_float32() -> None:
    assert unit_rows(np.asarray([[1.0, 1.0]], dtype=np.float64)).dtype == np.float32


def test_a_row_of_zeros_stays_zeros() -> None:
    rows = unit_rows(np.zeros((1, 4)))
    assert not np.isnan(rows).any()
    assert np.count_nonzero(rows) == 0
