"""The minimal fast upstream: an asyncio protocol serving pre-encoded MiniMax `create_stream` frames.

One process, no framework: httptools parses requests, `transport.write` sends chunked SSE. Every
request to `POST /v1/threads/run/create_stream` gets one streamed run whose shape is chosen by the
body's `thread_id` (the gateway and the naive pass-through forward it unchanged), so one upstream
serves every scenario and target:

    bench_n<frames>_p<pace ms>_<inc|cum|ans>_<run|hold>  e.g. bench_n200_p0_inc_run
    anything else (warm-up)                              10 frames, full speed, incremental

A `run` stream is: run (queued), run (in_progress), user echo, run step (message_creation,
in_progress) -- sent at once -- then <frames> `message` frames (role `ai`) at <pace> ms apart
(0: as fast as the socket takes them, with flow control), then run step (completed) and run
(completed, `base_resp.status_code: 0`), and the chunked body ends (keep-alive is honoured).
A `hold` stream sends the two run frames and then nothing until the client goes away.

Each message frame's text piece is a timestamp token `t<unix time, %017.6f>|` taken when the frame
is written: `incremental` sends the token alone, `cumulative` the whole text so far (the token is
then its new suffix). `ans` is for chat completions only (the `run_*` scenarios): incremental, each
content chunk 32 characters of answer (the token and a fixed pad), no reasoning chunks. Frame
shapes follow docs/minimax-wire.md ("Frame shapes") and the emulator (`gateway/emulator`).

`POST /v1/chat/completions` serves MiniMax chat completions the same way, the shape taken from the
last user message instead (see upstream_chat.py).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import dataclass
from typing import Any

import httptools
import orjson

from tests.bench.upstream_chat import CHAT_PATH, ChatFrames, last_user_text

TOKEN_LEN = 19  # b"t1732200000.123456|"
STREAM_PATH = b"/v1/threads/run/create_stream"
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
)
WARM = "warm"
VALUE_MARK = "@@VALUE@@"


@dataclass(frozen=True)
class StreamShape:
    frames: int = 10  # message frames
    pace_ms: float = 0.0
    cumulative: bool = False
    hold: bool = False
    answer: bool = False  # chat only: 32-character answer chunks, no reasoning (see upstream_chat.py)

    def thread_id(self) -> str:
        dialect = "ans" if self.answer else ("cum" if self.cumulative else "inc")
        mode = "hold" if self.hold else "run"
        return f"bench_n{self.frames}_p{self.pace_ms:g}_{dialect}_{mode}"

    @classmethod
    def parse(cls, thread_id: str) -> StreamShape:
        parts = thread_id.split("_")
        if len(parts) != 5 or parts[0] != "bench":
            return cls()
        return cls(
            frames=int(parts[1][1:]),
            pace_ms=float(parts[2][1:]),
            cumulative=parts[3] == "cum",
            hold=parts[4] == "hold",
            answer=parts[3] == "ans",
        )

    @property
    def total_frames(self) -> int:
        """Frames upstream sends for one complete stream (the per-event CPU denominator)."""
        return 2 if self.hold else self.frames + 6


def token(now: float | None = None) -> bytes:
    return b"t%017.6f|" % (time.time() if now is None else now)


def _hex(n: int) -> str:
    return os.urandom(n).hex()


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Frames:
    """Pre-encoded frames of one run: preamble, message template (head + value + tail), trailer."""

    __slots__ = ("head", "hold_preamble", "preamble", "tail", "trailer")

    def __init__(self, thread_id: str, assistant_id: str) -> None:
        t = int(time.time())
        run_id, msg_id, step_id, content_id = (
            "run_" + _hex(16),
            "msg_" + _hex(16),
            "step_" + _hex(16),
            _hex(16),
        )

        def run(status: str, **stamps: int) -> dict[str, Any]:
            return {
                "id": run_id,
                "object": "run",
                "created_at": t,
                "assistant_id": assistant_id,
                "thread_id": thread_id,
                "status": status,
                "started_at": stamps.get("started_at", 0),
                "expires_at": 0,
                "cancelled_at": 0,
                "failed_at": 0,
                "completed_at": stamps.get("completed_at", 0),
                "updated_at": t,
                "last_error": None,
                "model": "abab6.5s-chat",
                "instructions": "",
                "tools": [],
                "file_ids": [],
                "metadata": None,
                "required_action": {"type": "", "submit_tool_outputs": None},
            }

        def message(role: str, value: str, msg: str) -> dict[str, Any]:
            return {
                "id": msg,
                "object": "message",
                "created_at": t,
                "updated_at": t,
                "thread_id": thread_id,
                "role": role,
                "content": [
                    {
                        "id": content_id if role == "ai" else _hex(16),
                        "type": "text",
                        "text": {"value": value, "annotations": []},
                    }
                ],
                "file_ids": [],
                "assistant_id": assistant_id if role == "ai" else "",
                "run_id": run_id if role == "ai" else "",
                "metadata": None,
            }

        def step(status: str) -> dict[str, Any]:
            return {
                "id": step_id,
                "object": "run step",
                "run_id": run_id,
                "assistant_id": assistant_id,
                "thread_id": thread_id,
                "type": "message_creation",
                "status": status,
                "created_at": t,
                "expired_at": 0,
                "cancelled_at": 0,
                "failed_at": 0,
                "completed_at": t if status == "completed" else 0,
                "last_error": None,
                "step_details": {"type": "message_creation", "message_creation": {"message_id": msg_id}},
            }

        ok: dict[str, Any] = {}
        final = {"status_code": 0, "status_msg": "success"}
        runs = _sse({"data": run("queued"), "base_resp": ok}) + _sse(
            {"data": run("in_progress", started_at=t), "base_resp": ok}
        )
        self.hold_preamble = _chunk(runs)
        echo = _sse({"data": message("user", "bench", "msg_" + _hex(16)), "base_resp": ok})
        self.preamble = _chunk(runs + echo + _sse({"data": step("in_progress"), "base_resp": ok}))
        template = _sse({"data": message("ai", VALUE_MARK, msg_id), "base_resp": ok})
        self.head, self.tail = template.split(VALUE_MARK.encode())
        self.trailer = (
            _chunk(
                _sse({"data": step("completed"), "base_resp": ok})
                + _sse({"data": run("completed", started_at=t, completed_at=t), "base_resp": final})
            )
            + b"0\r\n\r\n"
        )

    def message(self, value: bytes | bytearray, last: bool = False) -> bytes:
        size = len(self.head) + len(value) + len(self.tail)
        return b"".join((b"%x\r\n" % size, self.head, value, self.tail, b"\r\n"))


@functools.cache
def _template_sizes(thread_id: str, assistant_id: str) -> tuple[int, int]:
    f = Frames(thread_id, assistant_id)
    return len(f.head), len(f.tail)


def message_frame_bytes(k: int, shape: StreamShape, assistant_id: str = "asst_bench") -> int:
    """Bytes upstream sends for the k-th (1-based) message frame of `shape`, chunk framing included."""
    cumulative = shape.cumulative
    head, tail = _template_sizes(shape.thread_id(), assistant_id)
    size = head + TOKEN_LEN * (k if cumulative else 1) + tail
    return len(b"%x\r\n" % size) + size + 2


class Stream:
    """One response being written: full speed under flow control, or paced by loop timers."""

    __slots__ = ("conn", "frames", "next_due", "sent", "shape", "text", "timer")

    def __init__(self, conn: UpstreamProtocol, shape: StreamShape, frames: Frames | ChatFrames) -> None:
        self.conn = conn
        self.shape = shape
        self.frames = frames
        self.sent = 0
        self.text = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.next_due = 0.0

    def start(self, keep_alive: bool) -> None:
        head = RESPONSE_HEAD + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        if self.shape.hold:
            self.conn.transport.write(head + self.frames.hold_preamble)
            return
        self.conn.transport.write(head + self.frames.preamble)
        if self.shape.pace_ms > 0:
            self.next_due = self.conn.loop.time()
            self.tick()
        else:
            self.pump()

    def _next_frame(self) -> bytes:
        self.sent += 1
        if self.shape.cumulative:
            self.text += token()
            return self.frames.message(self.text)
        return self.frames.message(token(), self.sent == self.shape.frames)

    def pump(self) -> None:
        conn = self.conn
        write = conn.transport.write
        n = self.shape.frames
        while self.sent < n and not conn.paused and not conn.closed:
            write(self._next_frame())
        if self.sent >= n and not conn.closed:
            self.finish()

    def tick(self) -> None:
        self.timer = None
        conn = self.conn
        if conn.closed:
            return
        conn.transport.write(self._next_frame())
        if self.sent >= self.shape.frames:
            self.finish()
            return
        self.next_due += self.shape.pace_ms / 1000
        self.timer = conn.loop.call_at(self.next_due, self.tick)

    def resume(self) -> None:
        if self.shape.pace_ms <= 0 and not self.shape.hold and self.sent < self.shape.frames:
            self.pump()

    def finish(self) -> None:
        conn = self.conn
        conn.transport.write(self.frames.trailer)
        conn.stream = None
        if not conn.keep_alive:
            conn.transport.close()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 server side of one connection (httptools callbacks)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.paused = False
        self.closed = False
        self.keep_alive = True
        self.stream: Stream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        transport.set_write_buffer_limits(high=64 * 1024)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        path = self.url.split(b"?", 1)[0]
        if self.parser.get_method() == b"POST" and path == CHAT_PATH:
            self._chat()
            return
        if self.parser.get_method() != b"POST" or path != STREAM_PATH:
            body = b'{"base_resp":{"status_code":1004,"status_msg":"not found"}}'
            self.transport.write(
                b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            return
        try:
            doc = orjson.loads(b"".join(self.body))
            thread_id, assistant_id = str(doc.get("thread_id", "")), str(doc.get("assistant_id", ""))
        except (orjson.JSONDecodeError, AttributeError):
            thread_id, assistant_id = WARM, "asst_bench"
        shape = StreamShape.parse(thread_id)
        self.stream = Stream(self, shape, Frames(thread_id, assistant_id))
        self.stream.start(self.keep_alive)

    def _chat(self) -> None:
        try:
            doc = orjson.loads(b"".join(self.body))
            text, split = last_user_text(doc), bool(doc.get("reasoning_split"))
        except (orjson.JSONDecodeError, AttributeError):
            text, split = WARM, True
        shape = StreamShape.parse(text)
        self.stream = Stream(self, shape, ChatFrames(shape.frames, split, answer=shape.answer))
        self.stream.start(self.keep_alive)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.stream is not None:
            self.stream.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=4096, reuse_address=True)
    async with server:
        await server.serve_forever()
