"""The whole OpenAI-facing surface, on one screen."""

from __future__ import annotations

from starlette.routing import Route

from gateway.api import assistants, files, health, messages, runs, threads, vector_stores
from gateway.api.responses import Streaming

routes = [
    # A run's creation, its polling and its tool outputs first: Starlette tries the routes in order, each
    # a regular expression, and these are most requests. (`/v1/threads/runs` must stay before
    # `/v1/threads/{thread_id}`, which would match it too.)
    Route("/v1/threads/runs", Streaming(runs.create_thread_and_run), methods=["POST"]),
    Route("/v1/threads/{thread_id}/runs", Streaming(runs.create), methods=["POST"]),
    Route("/v1/threads/{thread_id}/runs/{run_id}", runs.retrieve, methods=["GET"]),
    Route(
        "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
        Streaming(runs.submit_tool_outputs),
        methods=["POST"],
    ),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
    Route("/v1/assistants", assistants.create, methods=["POST"]),
    Route("/v1/assistants", assistants.list_, methods=["GET"]),
    Route("/v1/assistants/{assistant_id}", assistants.retrieve, methods=["GET"]),
    Route("/v1/assistants/{assistant_id}", assistants.modify, methods=["POST"]),
    Route("/v1/assistants/{assistant_id}", assistants.delete, methods=["DELETE"]),
    Route("/v1/threads", threads.create, methods=["POST"]),
    Route("/v1/threads/{thread_id}", threads.retrieve, methods=["GET"]),
    Route("/v1/threads/{thread_id}", threads.modify, methods=["POST"]),
    Route("/v1/threads/{thread_id}", threads.delete, methods=["DELETE"]),
    Route("/v1/threads/{thread_id}/messages", messages.create, methods=["POST"]),
    Route("/v1/threads/{thread_id}/messages", messages.list_, methods=["GET"]),
    Route("/v1/threads/{thread_id}/messages/{message_id}", messages.retrieve, methods=["GET"]),
    Route("/v1/threads/{thread_id}/messages/{message_id}", messages.modify, methods=["POST"]),
    Route("/v1/threads/{thread_id}/messages/{message_id}", messages.delete, methods=["DELETE"]),
    Route("/v1/threads/{thread_id}/runs", runs.list_, methods=["GET"]),
    Route("/v1/threads/{thread_id}/runs/{run_id}", runs.modify, methods=["POST"]),
    Route("/v1/threads/{thread_id}/runs/{run_id}/cancel", runs.cancel, methods=["POST"]),
    Route("/v1/threads/{thread_id}/runs/{run_id}/steps", runs.list_steps, methods=["GET"]),
    Route("/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", runs.retrieve_step, methods=["GET"]),
    Route("/v1/files", files.create, methods=["POST"]),
    Route("/v1/files", files.list_, methods=["GET"]),
    Route("/v1/files/{file_id}", files.retrieve, methods=["GET"]),
    Route("/v1/files/{file_id}", files.delete, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", files.content, methods=["GET"]),
    Route("/v1/vector_stores", vector_stores.create, methods=["POST"]),
    Route("/v1/vector_stores", vector_stores.list_, methods=["GET"]),
    Route("/v1/vector_stores/{vs}", vector_stores.retrieve, methods=["GET"]),
    Route("/v1/vector_stores/{vs}", vector_stores.modify, methods=["POST"]),
    Route("/v1/vector_stores/{vs}", vector_stores.delete, methods=["DELETE"]),
    Route("/v1/vector_stores/{vs}/search", vector_stores.search, methods=["POST"]),
    Route("/v1/vector_stores/{vs}/files", vector_stores.add_file, methods=["POST"]),
    Route("/v1/vector_stores/{vs}/files", vector_stores.list_files, methods=["GET"]),
    Route("/v1/vector_stores/{vs}/files/{file}", vector_stores.retrieve_file, methods=["GET"]),
    Route("/v1/vector_stores/{vs}/files/{file}", vector_stores.update_file, methods=["POST"]),
    Route("/v1/vector_stores/{vs}/files/{file}", vector_stores.delete_file, methods=["DELETE"]),
    Route("/v1/vector_stores/{vs}/files/{file}/content", vector_stores.file_content, methods=["GET"]),
    Route("/v1/vector_stores/{vs}/file_batches", vector_stores.create_batch, methods=["POST"]),
    Route("/v1/vector_stores/{vs}/file_batches/{batch}", vector_stores.retrieve_batch, methods=["GET"]),
    Route("/v1/vector_stores/{vs}/file_batches/{batch}/cancel", vector_stores.cancel_batch, methods=["POST"]),
    Route(
        "/v1/vector_stores/{vs}/file_batches/{batch}/files", vector_stores.list_batch_files, methods=["GET"]
    ),
]
