"""chatcli: a terminal chatbot whose memory lives in a Motörhead-compatible server."""

__version__ = "0.1.0"
