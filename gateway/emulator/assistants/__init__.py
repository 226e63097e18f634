"""The emulated MiniMax Assistants API (`/v1/assistants/*`, `/v1/threads/*`; docs/minimax-wire.md).

endpoint.py (auth, parameters, envelopes), crud.py (assistants, threads, messages), runs.py (run and
run-step handlers), create_stream.py (the streamed run) with frames.py (frame bytes per dialect),
progression.py (a run as a sequence of state changes) and runner.py (runs progressed in the
background), records.py (the in-memory store), shapes.py (the objects and their JSON), model.py (tool
decisions and replies), faults.py (per-request faults from run metadata).
"""
