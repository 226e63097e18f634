"""The bridge backend: the OpenAI Assistants API forwarded to MiniMax's Assistants API."""
