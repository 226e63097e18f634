"""The native engine: Assistants objects kept by the gateway, each run executed over MiniMax chat
completions (`store/` keeps them, `executor.py` runs them, `backend.py` serves the routes)."""
