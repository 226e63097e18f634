"""The code sessions a gateway process uses, chosen by its settings, or why there are none.

`CODE_SANDBOX_URL` set: the sandbox server's (`remote.RemoteSessions`). Else bubblewrap on this machine
(`LocalSessions` under `CODE_SANDBOX_DIR`). Fails closed: where neither can be set up (bubblewrap missing,
its filter not buildable, no token for the server), there are no sessions, and the reason is what a
request for the tool is told.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from gateway.sandbox.bwrap import SandboxMissing
from gateway.sandbox.remote import RemoteSessions
from gateway.sandbox.run import Limits, Sandbox, self_check
from gateway.sandbox.sessions import CodeSessions, LocalSessions
from gateway.settings import Settings

log = logging.getLogger("gateway.sandbox")
EXPIRY_INTERVAL = 30.0  # seconds between checks for sessions idle too long


def limits(settings: Settings) -> Limits:
    return Limits(
        cpu_seconds=settings.code_cpu_seconds,
        wall_seconds=settings.code_wall_seconds,
        memory_bytes=settings.code_memory_bytes,
        processes=settings.code_processes,
        file_bytes=settings.code_file_bytes,
        output_bytes=settings.code_output_bytes,
    )


def local_sessions(settings: Settings, location: str) -> LocalSessions:
    """Sessions on this machine; `SandboxMissing` (or OSError) if they cannot run here."""
    return LocalSessions(
        Sandbox(limits(settings)),
        settings.code_sandbox_dir,
        location=location,
        idle_seconds=settings.code_session_idle_seconds,
        max_sessions=settings.code_max_sessions,
        first_uid=settings.code_first_uid,
        disk_bytes=settings.code_disk_bytes,
    )


def choose(settings: Settings, location: str) -> CodeSessions | str:
    """The sessions these settings name, or why code cannot run."""
    if not settings.code_interpreter:
        return "CODE_INTERPRETER is off"
    if settings.code_sandbox_url:
        if settings.code_sandbox_token is None:
            return "CODE_SANDBOX_URL is set without CODE_SANDBOX_TOKEN"
        return RemoteSessions(settings.code_sandbox_url, settings.code_sandbox_token.get_secret_value())
    try:
        sessions = local_sessions(settings, location)
    except (SandboxMissing, OSError) as exc:
        log.warning("code_interpreter is off: %s", exc)
        return f"no sandbox can run here ({exc})"
    if os.geteuid() != 0:
        log.warning("code sessions run as the gateway's own user (not root: no user of their own each)")
    return sessions


@asynccontextmanager
async def open_sessions(settings: Settings, location: str) -> AsyncIterator[CodeSessions | str]:
    """`choose`, with idle sessions ended every `EXPIRY_INTERVAL` and all of them at exit. Sessions on
    this machine are tried first (`self_check`): where bubblewrap cannot make its sandbox (no user
    namespaces, say), the tool is refused in bubblewrap's words rather than failing at every call."""
    chosen = choose(settings, location)
    if isinstance(chosen, LocalSessions):
        problem = await self_check(chosen.sandbox, settings.code_sandbox_dir)
        if problem is not None:
            log.warning("code_interpreter is off: a sandbox cannot run here: %s", problem)
            chosen = f"no sandbox can run here ({problem})"
    if isinstance(chosen, str):
        yield chosen
        return
    sessions = chosen

    async def expire() -> None:
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL)
            try:
                await sessions.expire()
            except Exception:  # a failure must not end the expiry for the process's lifetime
                log.exception("ending idle code sessions failed")

    task = asyncio.create_task(expire(), name="code session expiry")
    try:
        yield sessions
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await sessions.aclose()
