"""MiniMax over HTTP, shared by both backends: the connection pool, SSE decoding, error mapping."""
