"""Recall's own failures, so the server (or a bench) decides how a user sees them.

The server's boundary turns them into a setup error at start (a model that cannot load) or a
failed request (an embeddings service that refused); nothing here knows about HTTP answers or
exit statuses."""

from __future__ import annotations


class EmbedderError(Exception):
    """An embedding could not be made; `message` names the problem and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmbedderUnavailable(EmbedderError):
    """The configured model cannot be loaded here (its package is not installed, its files
    are missing): a setup problem, raised when the embedder is opened, not per request."""
