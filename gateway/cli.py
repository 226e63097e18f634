"""`minimax-gateway` / `python -m gateway`: parse the command line and serve."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from gateway import logs
from gateway.api.auth import hash_key
from gateway.app import create_app
from gateway.loopback import ServerThread
from gateway.request_deadlines import deadline_protocol
from gateway.server import GatewayServer
from gateway.settings import AuthMode, BackendKind, load


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="minimax-gateway",
        description="Serve the OpenAI Assistants API (v2) on top of MiniMax: by default on the gateway's "
        "own engine over MiniMax chat completions; `migrate` brings the engine's database up to date.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate"],
        default="serve",
        help="serve (default), or migrate: apply the engine's database migrations and exit",
    )
    parser.add_argument(
        "--backend",
        choices=[k.value for k in BackendKind],
        help="engine (default: the gateway keeps assistants, threads and runs, and runs them over MiniMax "
        "chat completions) or assistants (forward to MiniMax's Assistants API); also $BACKEND",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (KEY=VALUE lines, see config/gateway.env.example); "
        "environment variables override it",
    )
    upstream = parser.add_mutually_exclusive_group()
    upstream.add_argument(
        "--emulator",
        action="store_true",
        help="serve against the built-in MiniMax emulator (no MiniMax key needed)",
    )
    upstream.add_argument(
        "--upstream",
        metavar="URL",
        help="MiniMax base URL (default: $MINIMAX_BASE_URL or https://api.minimax.io)",
    )
    parser.add_argument(
        "--hash-key",
        action="store_true",
        help="read a gateway key on stdin, print its hash for GATEWAY_KEY_HASHES, and exit",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.hash_key:
        print(hash_key(sys.stdin.readline().strip()))
        return
    overrides: dict[str, Any] = {}
    emulator: ServerThread | None = None
    if args.emulator:
        from gateway.emulator.app import create_emulator_app

        emulator = ServerThread(create_emulator_app()).start()
        overrides["minimax_base_url"] = emulator.url
    elif args.upstream:
        overrides["minimax_base_url"] = args.upstream
    if args.backend:
        overrides["backend"] = args.backend
    settings = load(args.config, **overrides)
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "migrate":
        from gateway.engine.store import migrate

        asyncio.run(migrate(settings.database_url))
        print(f"minimax-gateway: database at the latest schema ({settings.backend})", file=sys.stderr)
        return
    if settings.effective_auth_mode() is AuthMode.OWN_KEY:
        logging.getLogger("gateway").warning(
            "auth_mode=own_key: every client's requests go to MiniMax with MINIMAX_API_KEY, unchecked; "
            "for shared use set GATEWAY_KEY_HASHES (gateway_keys) or AUTH_MODE=passthrough"
        )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=deadline_protocol(settings.request_head_timeout, settings.request_body_timeout),
        log_config=None,
        log_level=settings.log_level,
        access_log=False,  # the gateway writes its own access log (gateway.access)
        proxy_headers=False,  # nothing here uses the client address; one middleware less per request
        timeout_graceful_shutdown=5,
    )
    server = GatewayServer(config, app.state.lifecycle, settings.drain_seconds)
    print(
        f"minimax-gateway ({settings.backend}) on http://{args.host}:{args.port}/v1"
        f" -> {settings.upstream_v1()}" + (" (built-in MiniMax emulator)" if emulator else ""),
        file=sys.stderr,
    )
    try:
        server.run()
    finally:
        if emulator is not None:
            emulator.stop()
