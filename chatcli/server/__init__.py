"""The Motörhead-compatible memory server: API (app), stores, compaction, serving.

Nothing is imported here, so `import chatcli.server.x` stays as cheap as module x.
"""
