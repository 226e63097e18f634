"""POST /v1/chat/completions and /v1/text/chatcompletion_v2: auth, validation, faults, then the reply as
an SSE stream (or one `chat.completion` object when `stream` is not true).

Both paths send the same chunks; they differ in how a request fails (see chat.errors). Every JSON
object body is recorded on the context before anything else is checked, and each stream's end
(completed, client_closed, cut, error) is recorded there too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gateway.emulator.bodies import FrameStreamResponse, JsonResponse, StreamCut
from gateway.emulator.chat.chunks import Chunk, ChunkMaker
from gateway.emulator.chat.errors import LOGIN_FAIL, chat_message, error_response, http_fault_response
from gateway.emulator.chat.faults import ChatFaults
from gateway.emulator.chat.model import reply_for
from gateway.emulator.chat.request import parse_chat_request
from gateway.emulator.ids import hex_id, now
from gateway.emulator.splitter import Splitter
from gateway.emulator.state import ChatStreamEnd, Context
from gateway.emulator.status_codes import ApiError

MALFORMED = b'{"id":"malformed","choices":[{"index":0,"delta":{"content":'


class ChatHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def compatible(self, request: Request) -> Response:
        return await self._handle(request, native=False)

    async def native(self, request: Request) -> Response:
        return await self._handle(request, native=True)

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        key = self.ctx.config.api_key
        return scheme.lower() == "bearer" and bool(token) and (key is None or token == key)

    async def _handle(self, request: Request, *, native: bool) -> Response:
        if request.method != "POST":
            return PlainTextResponse("404 page not found", status_code=404)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        index = len(self.ctx.chat_requests)
        if isinstance(body, dict):
            self.ctx.chat_requests.append(body)
        if not self._authorized(request):
            return error_response(1004, LOGIN_FAIL, native=native)
        if body is None:
            return error_response(2013, "invalid params, body is not valid JSON", native=native)
        try:
            req = parse_chat_request(body)
        except ApiError as exc:
            return error_response(exc.code, exc.message, native=native)
        if req.faults.http is not None:
            return http_fault_response(req.faults.http)
        if req.faults.error_before is not None:
            return error_response(req.faults.error_before, native=native)
        chunk_id = hex_id()
        maker = ChunkMaker(self.ctx.config, req, reply_for(req, chunk_id), chunk_id, now())
        if not req.stream:
            return JsonResponse(maker.completion())
        return FrameStreamResponse(self._stream(index, maker, req.faults))

    async def _stream(self, index: int, maker: ChunkMaker, faults: ChatFaults) -> AsyncGenerator[bytes, None]:
        ctx, config = self.ctx, self.ctx.config
        end_line = config.line_ending.encode() * 2
        splitter = Splitter(config.split_seed) if config.chunking == "split" else None

        def write(payload: bytes) -> list[bytes]:
            line = b"data: " + payload + end_line
            return splitter.feed(line) if splitter else [line]

        def flush() -> list[bytes]:
            return splitter.flush() if splitter else []

        pace = (config.pace_ms if faults.pace_ms is None else faults.pace_ms) / 1000
        chunks: list[Chunk] = maker.chunks()
        ended: ChatStreamEnd = "client_closed"
        written = 0
        ctx.chat_streams_open += 1
        try:
            for i in range(len(chunks) + 1):
                for name in faults.due(written, at_end=i == len(chunks)):
                    if name == "stall" and faults.stall:
                        await asyncio.sleep(faults.stall[1])
                    elif name == "malformed":
                        written += 1
                        for piece in write(MALFORMED):
                            yield piece
                    elif name == "error_chunk" and faults.error_chunk:
                        code = faults.error_chunk[1]
                        for piece in (
                            write(orjson.dumps(maker.error_chunk(code, chat_message(code)))) + flush()
                        ):
                            yield piece
                        ended = "error"
                        return
                    elif name == "cut":
                        for piece in flush():
                            yield piece
                        ended = "cut"
                        raise StreamCut(f"emulator chat fault cut:{written} on request {index}")
                if i == len(chunks):
                    break
                if written and pace:
                    await asyncio.sleep(pace)
                written += 1
                chunk = chunks[i]
                for piece in write(chunk if isinstance(chunk, bytes) else orjson.dumps(chunk)):
                    yield piece
            for piece in flush():
                yield piece
            ended = "completed"
        finally:
            ctx.chat_streams_open -= 1
            ctx.chat_stream_ends.append((index, ended))
