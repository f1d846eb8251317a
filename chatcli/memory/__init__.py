"""How a command reaches the memory: this package, and nothing else.

- `protocol.MemoryClient`: everything a command, the REPL or the LangChain memory asks of
  the memory (health, sessions, memory, memory_raw, append, delete, close, `where`; the
  transcript routes; `retrieve` (Motörhead's long-term memory) and `search`).
- `http.MotorheadClient`: that protocol over HTTP, to any Motörhead-compatible server.
- `direct.DirectClient`: that protocol straight on the embedded SQLite file, through the
  server's own service layer (chatcli.server.service), for `sessions`/`history`/`clear`.
- `session`: a session as a command sees it (`SessionMemory`, `parse_memory`), and what
  long-term memory finds (`Recalled`, `Hit`).
- `open`: choosing and opening the configured memory (`open_memory` for chat and ask,
  which also starts the embedded server; `open_client` for looking at sessions).
- `langchain.ChatcliMotorheadMemory`: LangChain's MotorheadMemory on an injected client;
  only the chain code (chatcli.conversation) imports it.

Nothing is imported here, so `sessions`, `history` and `clear` pay only for the modules
they use (never LangChain, FastAPI or uvicorn).
"""
