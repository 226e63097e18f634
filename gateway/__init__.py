"""minimax-gateway: the OpenAI Assistants API, served on top of MiniMax's Assistants API."""

__version__ = "0.1.0"
