"""Command line: serve the MiniMax emulator with uvicorn (`python -m gateway.emulator --port 8001`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from gateway.emulator.app import create_emulator_app
from gateway.emulator.config import EmulatorConfig, add_arguments


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.emulator", description="MiniMax emulator: Assistants API and chat completions"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--log-level", default="info")
    add_arguments(parser)
    ns = parser.parse_args(argv)
    app = create_emulator_app(EmulatorConfig.from_namespace(ns))
    uvicorn.run(app, host=ns.host, port=ns.port, log_level=ns.log_level)


if __name__ == "__main__":
    main()
