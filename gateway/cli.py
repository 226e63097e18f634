"""`minimax-gateway` / `python -m gateway`: parse the command line and serve with uvicorn."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import uvicorn

from gateway.app import create_app
from gateway.serve import ServerThread
from gateway.settings import Settings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="minimax-gateway",
        description="Serve the OpenAI Assistants API (v2) on top of MiniMax's Assistants API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    upstream = parser.add_mutually_exclusive_group()
    upstream.add_argument(
        "--emulator",
        action="store_true",
        help="serve against the built-in MiniMax emulator (no MiniMax key needed)",
    )
    upstream.add_argument(
        "--upstream",
        metavar="URL",
        help="MiniMax base URL (default: $MINIMAX_BASE_URL or https://api.minimax.chat); "
        "the key comes from $MINIMAX_API_KEY or each client's Bearer key",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    overrides: dict[str, object] = {}
    emulator: ServerThread | None = None
    if args.emulator:
        from gateway.emulator.app import create_emulator_app

        emulator = ServerThread(create_emulator_app()).start()
        overrides["minimax_base_url"] = emulator.url
        print(f"MiniMax emulator on {emulator.url}")
    elif args.upstream:
        overrides["minimax_base_url"] = args.upstream
    settings = Settings(**overrides)  # type: ignore[arg-type]
    print(f"minimax-gateway on http://{args.host}:{args.port}/v1 -> {settings.upstream_v1()}")
    try:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level=settings.log_level,
            loop="uvloop" if os.name != "nt" else "auto",
            http="httptools",
        )
    finally:
        if emulator is not None:
            emulator.stop()
