"""Backend-neutral streaming: the OpenAI run-stream emitter, SSE encoding, the relay loop."""
