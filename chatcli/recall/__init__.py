"""Long-term recall: turning messages into vectors and fusing keyword and dense rankings.

The server's stores keep the indexes; this package holds what is independent of any store (the
embedding models behind one protocol, and the pure ranking logic)."""
