"""The sandbox server: `LocalSessions` served over HTTP, so that gateways elsewhere run code here
(`remote.RemoteSessions`), on a host or in a pod of its own (deploy/sandbox.yaml).

    python -m gateway.sandbox.server [--host H] [--port P] [--config FILE]

Every route but `/healthz` needs `Authorization: Bearer <CODE_SANDBOX_TOKEN>`:

    POST   /v1/sessions/{key}/cells               {"code": "..."} -> 200, the Cell as JSON
    PUT    /v1/sessions/{key}/files/{name}        the file, streamed in -> 204 (413: past the file limit)
    GET    /v1/sessions/{key}/files/{name}?limit=N -> the file, streamed out (404, 400: not a plain file, 413)
    GET    /v1/sessions/{key}                     -> {"exists": bool}
    DELETE /v1/sessions/{key}                     -> 204
    GET    /healthz                               -> 200

Errors are `{"error": {"message": ..., "type": ...}}`; a bad key or file name is 400, never a 500.
Idle sessions are ended every `EXPIRE_EVERY` seconds, and all of them when the server stops. `main`
refuses to start without a token, or where no sandbox can run (`self_check`: bubblewrap's reason).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import logs
from gateway.sandbox.bwrap import SandboxMissing
from gateway.sandbox.opening import limits
from gateway.sandbox.run import Sandbox, self_check
from gateway.sandbox.sessions import (
    FileMissing,
    FileTooLarge,
    LocalSessions,
    SandboxError,
    check_key,
    check_name,
)
from gateway.settings import load

log = logging.getLogger("gateway.sandbox")

EXPIRE_EVERY: Final = 30.0  # seconds between sweeps for idle sessions
MAX_CODE_BYTES: Final = 8 << 20  # a cell's request body
DRAIN_BYTES: Final = 64 << 20  # of a refused upload still read, so that the client reads the 413
PORT: Final = 8001
PUBLIC: Final = frozenset({"/healthz"})


class Refused(Exception):
    """A request answered with an error: HTTP `status`, the error's `type` and `message`."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_


def _error(status: int, type_: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "type": type_}}, status, headers)


def _sandbox_status(exc: SandboxError) -> tuple[int, str]:
    if isinstance(exc, FileTooLarge):
        return 413, "file_too_large"
    if isinstance(exc, FileMissing):
        return 404, "not_found_error"
    return 400, "invalid_request_error"


class BearerAuth:
    """Refuses (401) every request but `PUBLIC` paths' without `Authorization: Bearer <token>`, compared
    in constant time; unknown paths included, so that nothing is learnt without the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC:
            given = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, credentials = given.partition(b" ")
            if not (scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected)):
                refusal = _error(
                    401,
                    "authentication_error",
                    "a valid bearer token (CODE_SANDBOX_TOKEN) is required",
                    {"WWW-Authenticate": "Bearer"},
                )
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


class Endpoints:
    """The routes' handlers, over one `LocalSessions`."""

    def __init__(self, sessions: LocalSessions) -> None:
        self._sessions = sessions

    async def execute(self, request: Request) -> Response:
        key = check_key(request.path_params["key"])
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_CODE_BYTES:
                raise Refused(
                    413, "invalid_request_error", f"a cell's code is limited to {MAX_CODE_BYTES} bytes"
                )
        try:
            code = json.loads(body)["code"]
        except (ValueError, TypeError, KeyError):
            code = None
        if not isinstance(code, str):
            raise Refused(400, "invalid_request_error", 'the body must be JSON {"code": "..."}')
        cell = await self._sessions.execute(key, code)
        return JSONResponse(dataclasses.asdict(cell))

    async def put_file(self, request: Request) -> Response:
        key, name = check_key(request.path_params["key"]), check_name(request.path_params["name"])
        stream = request.stream()
        try:
            await self._sessions.put_file(key, name, stream)
        except FileTooLarge:
            # Read on (up to a point) so that the client, still sending, gets to read the 413: a socket
            # closed with unread data is reset, and the reset can take the answer with it.
            drained = 0
            async for chunk in stream:
                drained += len(chunk)
                if drained > DRAIN_BYTES:
                    break
            raise
        return Response(status_code=204)

    async def read_file(self, request: Request) -> Response:
        key, name = check_key(request.path_params["key"]), check_name(request.path_params["name"])
        raw = request.query_params.get("limit", "")
        if not raw.isdigit():
            raise Refused(400, "invalid_request_error", "?limit= must be the largest size read, in bytes")
        chunks = self._sessions.read_file(key, name, int(raw))
        try:  # the first chunk before the status: a missing or refused file is an error, not a 200
            first = await anext(chunks)
        except StopAsyncIteration:
            first = b""
        return StreamingResponse(_rest(first, chunks), media_type="application/octet-stream")

    async def session(self, request: Request) -> Response:
        key = check_key(request.path_params["key"])
        if request.method == "DELETE":
            await self._sessions.close(key)
            return Response(status_code=204)
        return JSONResponse({"exists": await self._sessions.has(key)})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


async def _rest(first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`first`, then the rest of `chunks`, closed whatever happens (a client gone mid-file)."""
    try:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return _error(exc.status, exc.type, str(exc))


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return _error(*_sandbox_status(exc), str(exc))


async def _gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=400)  # the client left mid-request: nobody reads this


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, "invalid_request_error", exc.detail, exc.headers)


def create_app(sessions: LocalSessions, token: str, *, expire_every: float = EXPIRE_EVERY) -> Starlette:
    """The server over `sessions` (it ends them all at shutdown); requests must carry `token`."""
    if not token:
        raise ValueError("the sandbox server needs a token (CODE_SANDBOX_TOKEN)")
    api = Endpoints(sessions)
    session = "/v1/sessions/{key}"
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route(session + "/cells", api.execute, methods=["POST"]),
        Route(session + "/files/{name}", api.put_file, methods=["PUT"]),
        Route(session + "/files/{name}", api.read_file, methods=["GET"]),
        Route(session, api.session, methods=["GET", "DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep(sessions, expire_every))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await sessions.aclose()

    return Starlette(
        routes=routes,
        middleware=[Middleware(BearerAuth, token=token)],
        exception_handlers={
            Refused: _refused,
            SandboxError: _sandbox_error,
            HTTPException: _http_error,
            ClientDisconnect: _gone,
        },
        lifespan=lifespan,
    )


async def _sweep(sessions: LocalSessions, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if ended := await sessions.expire():
                log.info("ended %d idle code sessions", ended)
        except Exception:
            log.exception("expiring idle code sessions failed")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.sandbox.server",
        description="Serve code_interpreter sessions (bubblewrap sandboxes) to gateways over HTTP; "
        "settings as the gateway's (CODE_*), CODE_SANDBOX_TOKEN required.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=PORT, help=f"port to listen on (default {PORT})")
    parser.add_argument("--config", type=Path, metavar="FILE", help="settings file (KEY=VALUE lines)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load(args.config)
    token = settings.code_sandbox_token.get_secret_value().strip() if settings.code_sandbox_token else ""
    if not token:
        raise SystemExit(
            "gateway.sandbox.server: CODE_SANDBOX_TOKEN is not set: the server refuses to run code for "
            "whoever reaches it; set the same token here and on the gateways"
        )
    logs.configure(settings.log_level, settings.log_format)
    root = settings.code_sandbox_dir
    try:
        sandbox = Sandbox(limits(settings))
        problem = asyncio.run(self_check(sandbox, root))
    except (SandboxMissing, OSError) as exc:
        problem = str(exc)
    if problem is not None:
        raise SystemExit(f"gateway.sandbox.server: no sandbox can run here, so no code will: {problem}")
    sessions = LocalSessions(
        sandbox,
        root,
        location="local",
        idle_seconds=settings.code_session_idle_seconds,
        max_sessions=settings.code_max_sessions,
        first_uid=settings.code_first_uid,
        disk_bytes=settings.code_disk_bytes,
    )
    log.info("sandbox server on http://%s:%d, sessions under %s", args.host, args.port, root)
    uvicorn.run(
        create_app(sessions, token),
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
