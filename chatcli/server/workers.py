"""`chatcli serve --workers N`: one port served by N processes on one host.

This process binds the socket (so a port in use is still one line and exit 1), then
spawns N workers that inherit it; each builds its own store, compactor and app exactly as
a single `chatcli serve` does and runs uvicorn on the shared socket, the kernel spreading
connections among them. The store's compaction lock already holds across processes.

A worker reports back once its store answered; a start-up failure of any worker (its
one-line error) stops the others and becomes this command's error. A worker that dies
later is replaced. SIGTERM or SIGINT closes this process's copy of the socket, passes
SIGTERM to every worker (each then drains as a single server does) and waits for them,
up to a bound, before exit 0.

Metrics: the workers run prometheus-client's multiprocess mode in a temporary directory
made here and removed at exit, so whichever worker answers `/metrics` shows all of them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from chatcli.config import Settings
from chatcli.errors import ChatcliError
from chatcli.server.errors import ServeError, ServerError
from chatcli.server.process import GRACEFUL_SECONDS

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client picks its multiprocess mode from this when it is first imported, so a
worker sets it before anything imports prometheus_client (this module must not)."""
START_SECONDS = 120.0
"""How long a worker may take to start (a local summarizer model loads first)."""
STOP_SECONDS = GRACEFUL_SECONDS + 10.0
"""How long a worker may take to drain after SIGTERM before it is killed."""
RESTART_PAUSE = 1.0
"""The least time between two starts of one worker slot, so a crash loop cannot spin."""
POLL = 0.2


@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    reports: Connection
    started: float


def serve_workers(
    settings: Settings, sock: socket.socket, no_color: bool, announce: Callable[[], None]
) -> None:
    """Serve `sock` from settings.server.workers processes until a signal; `announce`
    once they all started."""
    metrics_dir = tempfile.mkdtemp(prefix="chatcli-metrics-")
    try:
        supervisor = Supervisor(settings, sock, metrics_dir, no_color)
        supervisor.start()
        announce()
        supervisor.supervise()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Supervisor:
    """Starts the workers, replaces the ones that die, and stops them all on a signal."""

    def __init__(
        self, settings: Settings, sock: socket.socket, metrics_dir: str, no_color: bool
    ) -> None:
        self.settings = settings
        self.sock = sock
        self.metrics_dir = metrics_dir
        self.no_color = no_color
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.stopping = threading.Event()

    def start(self) -> None:
        """All N workers up and their stores answering, or the first one's error."""
        previous = self._handle_signals()
        try:
            self.workers = [self._spawn(slot) for slot in range(self.settings.server.workers)]
            for worker in self.workers:
                self._await_report(worker)
        except BaseException:
            self.stop()
            signal.signal(signal.SIGINT, previous[signal.SIGINT])
            signal.signal(signal.SIGTERM, previous[signal.SIGTERM])
            raise

    def supervise(self) -> None:
        """Until a signal: replace workers that died; then stop them all."""
        try:
            while not self.stopping.wait(POLL):
                for index, worker in enumerate(self.workers):
                    if worker.process.is_alive():
                        continue
                    self._forget(worker)
                    print(
                        f"chatcli serve: worker {worker.slot} (pid {worker.process.pid}) "
                        f"exited with {worker.process.exitcode}; starting another",
                        file=sys.stderr,
                        flush=True,
                    )
                    pause = worker.started + RESTART_PAUSE - time.monotonic()
                    if pause > 0 and self.stopping.wait(pause):
                        break
                    self.workers[index] = self._spawn(worker.slot)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting here, then SIGTERM each worker and wait for it (kill past the bound)."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        for worker in self.workers:
            if worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            self._forget(worker)

    def _handle_signals(self) -> dict[int, Any]:
        def stop(*_: Any) -> None:
            self.stopping.set()

        return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _spawn(self, slot: int) -> _Worker:
        reports, child_end = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=run_worker,
            args=(self.settings, self.sock, self.metrics_dir, self.no_color, child_end),
            name=f"chatcli-serve-worker-{slot}",
        )
        process.start()
        child_end.close()
        return _Worker(slot, process, reports, time.monotonic())

    def _await_report(self, worker: _Worker) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not worker.reports.poll(POLL):
            if self.stopping.is_set():
                return
            if not worker.process.is_alive() and not worker.reports.poll():
                raise ServeError(
                    f"a worker exited with {worker.process.exitcode} while starting; "
                    "see its log above"
                )
            if time.monotonic() > deadline:
                raise ServeError(f"a worker did not start within {START_SECONDS:g}s")
        try:
            failure = worker.reports.recv()
        except (EOFError, OSError):
            failure = ServeError("a worker exited while starting; see its log above")
        if failure is not None:
            raise failure

    def _forget(self, worker: _Worker) -> None:
        """Drop a dead worker's live gauges from the metrics (prometheus-client's rule)."""
        worker.reports.close()
        pid = worker.process.pid
        if pid is not None and not worker.process.is_alive():
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.metrics_dir)


def run_worker(
    settings: Settings, sock: socket.socket, metrics_dir: str, no_color: bool, reports: Connection
) -> None:
    """A worker process: serve like a single `chatcli serve`, on the inherited socket."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess mode was set")
    os.environ[MULTIPROC_ENV] = metrics_dir
    from chatcli.server.process import build_server, run_serving

    try:
        server, store = build_server(settings, sys.stderr, no_color, multiprocess=True)
        run_serving(server, store, sock, on_ready=lambda: reports.send(None))
    except (ChatcliError, ServerError) as exc:
        with contextlib.suppress(OSError):
            reports.send(exc)
        sys.exit(1)
    finally:
        sock.close()
        reports.close()
