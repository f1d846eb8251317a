"""`chatcli reindex`: give every message of the configured store its vector now.

A server indexes its store in the background by itself; this is for doing it up front (after
an import, a change of embedding model, an old database) and watching it happen. It takes the
same store lock as a server's indexer, so it never embeds what a running server is embedding:
it waits for that indexer to let go, and then finds nothing left, or the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from chatcli.config import Settings
from chatcli.env import Environment
from chatcli.errors import ConfigError, MemoryServerError

LINE_SECONDS = 5.0
"""Off a terminal, a progress line this often."""
WAIT_SECONDS = 1.0


def reindex(env: Environment, settings: Settings) -> None:
    from chatcli.recall.errors import EmbedderError
    from chatcli.server.embedding import EmbedderHandle
    from chatcli.server.indexer import Indexer
    from chatcli.server.stores import open_store

    if not settings.server.long_term_memory:
        raise ConfigError(
            "long-term memory is off (server.long_term_memory = false): nothing to index"
        )
    store = open_store(settings.server)
    embedder = EmbedderHandle.from_settings(settings)
    try:
        model = embedder.warm().name
    except EmbedderError as exc:
        raise MemoryServerError(exc.message) from None
    indexer = Indexer(store, embedder, poll=WAIT_SECONDS)

    def waiting() -> None:
        print("chatcli: waiting for a running server's indexer to finish…", file=env.stderr)

    async def work() -> int:
        try:
            with _progress(env) as progress:
                return await indexer.index_now(progress, waiting)
        finally:
            await store.close()

    started = time.monotonic()
    done = asyncio.run(work())
    elapsed = time.monotonic() - started
    print(
        f"indexed {done} messages with {model} in {elapsed:.1f}s "
        f"({done / max(elapsed, 1e-9):.0f}/s)",
        file=env.stdout,
    )


class _progress:
    """A rich progress bar on a terminal, a line every LINE_SECONDS otherwise."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.bar = None
        self.task = None
        self.last = 0.0

    def __enter__(self) -> Callable[[int, int], None]:
        if self.env.stderr_isatty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "indexing",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.env.stderr, no_color=self.env.no_color),
                transient=True,
            )
            self.bar.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task("indexing", total=total)
            self.bar.update(self.task, completed=done)
            return
        now = time.monotonic()
        if now - self.last >= LINE_SECONDS or done >= total:
            self.last = now
            print(f"indexed {done} of {total} messages", file=self.env.stderr, flush=True)

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()
