"""The emulator's ASGI app: `create_emulator_app(config)` wires per-app state to the /v1 routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from gateway.emulator import embeddings
from gateway.emulator.assistants.create_stream import StreamHandler
from gateway.emulator.assistants.crud import CrudHandlers
from gateway.emulator.assistants.endpoint import Handler, endpoint
from gateway.emulator.assistants.runs import RunHandlers
from gateway.emulator.bodies import install_cut_log_filter
from gateway.emulator.chat.completions import ChatHandlers
from gateway.emulator.config import EmulatorConfig
from gateway.emulator.state import Context

READ = ["GET", "POST"]  # reads are GET (query or JSON body); go-minimax POSTs some of them
WRITE = ["POST"]


def create_emulator_app(config: EmulatorConfig | None = None) -> Starlette:
    """A fresh emulator: all objects and run tasks belong to the returned app (`app.state.emulator`)."""
    ctx = Context(config or EmulatorConfig())
    crud, runs, streams = CrudHandlers(ctx), RunHandlers(ctx), StreamHandler(ctx)
    chat = ChatHandlers(ctx)

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(f"/v1/{path}", endpoint(ctx.config, handler), methods=methods)

    routes = [
        route("assistants/create", crud.create_assistant, WRITE),
        route("assistants/retrieve", crud.retrieve_assistant, READ),
        route("assistants/list", crud.list_assistants, READ),
        route("assistants/modify", crud.modify_assistant, WRITE),
        route("assistants/delete", crud.delete_assistant, WRITE),
        route("threads/create", crud.create_thread, WRITE),
        route("threads/retrieve", crud.retrieve_thread, READ),
        route("threads/modify", crud.modify_thread, WRITE),
        route("threads/messages/add", crud.add_message, WRITE),
        route("threads/messages/list", crud.list_messages, READ),
        route("threads/messages/retrieve", crud.retrieve_message, READ),
        route("threads/run/create", runs.create, WRITE),
        route("threads/run/create_stream", streams.create_stream, WRITE),
        route("threads/run/retrieve", runs.retrieve, READ),
        route("threads/run/list", runs.list, READ),
        route("threads/run/cancel", runs.cancel, WRITE),
        route("threads/run/modify", runs.modify, WRITE),
        route("threads/run/submit_tool_outputs", runs.submit_tool_outputs, WRITE),
        route("threads/run_steps/list", runs.list_steps, READ),
        route("threads/run_steps/retrieve", runs.retrieve_step, READ),
        Route("/v1/chat/completions", chat.compatible, methods=READ),
        Route("/v1/text/chatcompletion_v2", chat.native, methods=READ),
        Route("/v1/embeddings", embeddings.create, methods=WRITE),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        install_cut_log_filter()
        try:
            yield
        finally:
            await ctx.runner.aclose()

    install_cut_log_filter()
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = ctx
    return app
