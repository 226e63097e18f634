"""minimax-gateway: OpenAI's Assistants API for unmodified OpenAI SDK code, served on MiniMax.

The `engine` backend (default) keeps the objects itself and runs each run over MiniMax chat completions;
the `bridge` backend forwards to MiniMax's Assistants API where it still answers.
"""

__version__ = "0.1.0"
