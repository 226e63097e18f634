"""Entry point of one benchmark server process: `python -m tests.bench.serve KIND`.

Raises RLIMIT_NOFILE to the hard limit first. `naive`, `floor-asgi` and `gateway` run on uvicorn with
uvloop and httptools, `floor-proto` on uvloop alone (floor.py); `gateway` goes through
`gateway.cli.main`, i.e. exactly as `minimax-gateway --upstream URL` builds and serves it (settings
from the environment, same uvicorn options, drain on SIGTERM), with `--backend $BENCH_BACKEND` only
when that checkout's cli knows the flag (an older one, run as the `baseline` target from its own
directory, may not); it first prints where `gateway` was imported from, which the bench checks for the
baseline.
Profiling switch (benchmark only): `BENCH_CPROFILE=FILE` wraps the server in cProfile and dumps its
stats to FILE when the process exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _upstream(args: argparse.Namespace) -> None:
    import uvloop

    from tests.bench.upstream import serve

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        uvloop.run(serve(args.host, args.port))


def _on_uvicorn(app: Any, args: argparse.Namespace) -> None:
    """Serve a bench app as the gateway is served: uvloop, httptools, no access log."""
    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=2,
    )


def _naive(args: argparse.Namespace) -> None:
    from tests.bench.naive import create_naive_app

    _on_uvicorn(create_naive_app(args.upstream), args)


def _floor_asgi(args: argparse.Namespace) -> None:
    from tests.bench.floor import asgi_app

    _on_uvicorn(asgi_app(args.upstream), args)


def _floor_proto(args: argparse.Namespace) -> None:
    import uvloop

    from tests.bench.floor import serve_protocols

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        uvloop.run(serve_protocols(args.host, args.port, args.upstream))


def _gateway(args: argparse.Namespace) -> None:
    import gateway
    from gateway import cli

    print(f"bench serve: gateway imported from {gateway.__file__}", flush=True)
    argv = ["--host", args.host, "--port", str(args.port), "--upstream", args.upstream]
    with open(cli.__file__, encoding="utf-8") as f:
        if "--backend" in f.read():
            argv += ["--backend", os.environ.get("BENCH_BACKEND", "assistants")]
    cli.main(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["upstream", "naive", "floor-asgi", "floor-proto", "gateway"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="", help="upstream base URL (naive, gateway)")
    args = parser.parse_args()
    raise_nofile()
    servers: dict[str, Callable[[argparse.Namespace], None]] = {
        "upstream": _upstream,
        "naive": _naive,
        "floor-asgi": _floor_asgi,
        "floor-proto": _floor_proto,
        "gateway": _gateway,
    }
    run = servers[args.server]
    profile_to = os.environ.get("BENCH_CPROFILE")
    if not profile_to:
        run(args)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run(args)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
