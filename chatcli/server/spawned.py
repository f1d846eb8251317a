"""What the server's spawned worker processes share (the summarizer's and the embedder's):
each ends with the server that spawned it, and is stopped the same way."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess


def start(
    serve: Callable[[Any, Connection, int], None], settings: Any, name: str
) -> tuple[BaseProcess, Connection]:
    """Spawn `serve(settings, its end of a pipe, this process's id)`; the worker process and
    our end of the pipe. Spawned, not forked, so it inherits no event loop or socket."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    process = context.Process(
        target=serve, args=(settings, child, os.getpid()), name=name, daemon=True
    )
    process.start()
    child.close()  # our copy of its end closed, a dead worker is an EOF on ours
    return process, conn


def begin(server_pid: int) -> None:
    """A worker's first step: Ctrl-C reaches the whole process group, and the server stops
    its workers itself, so it is ignored here; and the worker exits once the server is gone,
    even while busy in a long call that does not read the pipe (whose EOF is the other way
    a worker learns of it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(server_pid,), daemon=True).start()


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(0.5)
    os._exit(0)


def stop(process: BaseProcess, conn: Connection) -> None:
    """In the server: terminate the worker, kill it if it lingers, release its pipe."""
    if process.is_alive():
        process.terminate()
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()
    conn.close()
    process.close()
