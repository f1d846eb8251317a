"""Waiting for what a real server does in the background: a deadline that fails the test with
what it waited for, never an assertion about how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], what: str, *, timeout: float, poll: float = 0.05
) -> float:
    """Seconds it took (for a report), or AssertionError naming `what` after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start
