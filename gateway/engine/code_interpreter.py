"""The `code_interpreter` tool as the engine runs it: offered to MiniMax as a function, served by the gateway
in the thread's sandboxed session (`gateway.sandbox`).

MiniMax has no code interpreter of its own, so a run with the tool offers MiniMax a function of that name
taking `{"code": "..."}` (`DECLARATION`), and tells the model which files it will find in `/mnt/data`
(`guidance`). When the model calls it, `CodeInterpreter.call`:
- puts the run's files in the session (the assistant's and the thread's
  `tool_resources.code_interpreter.file_ids`, and the files of the thread's messages attached for the
  tool), once per session, each under its file name;
- runs the code (one cell of the thread's session: variables and files survive between calls and runs
  for `CODE_SESSION_IDLE_SECONDS`);
- makes each image the code left (open matplotlib figures, PNG files it wrote) a File (`purpose:
  assistants_output`), shown as an `image` output and as `image_file` content of the answer, and every
  other file it wrote a File too, which the answer's `sandbox:/mnt/data/NAME` links point at
  (`file_path` annotations);
- answers the model with the output as text (`output`), and the client with OpenAI's step shape:
  `{"id", "type": "code_interpreter", "code_interpreter": {"input", "outputs": [{"type": "logs", "logs"},
  {"type": "image", "image": {"file_id"}}]}}`.

A session that was lost (it lives on another replica, expired, or its interpreter was killed at a limit)
is told to the model first, as OpenAI did: "Code execution state reset". Where the store says where each
thread's session lives: `store.code_sessions`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.engine import tool_resources
from gateway.engine.store import HistoryItem, Store, StoreError
from gateway.engine.store.tables import PART_BYTES
from gateway.sandbox.session import Cell
from gateway.sandbox.sessions import CodeSessions, SandboxError

NAME: Final = "code_interpreter"
MAX_FILES: Final = 20  # files a run's tool resources may give the session (OpenAI's limit)
OUTPUT_PURPOSE: Final = "assistants_output"
MAX_FILES_OUT: Final = 10  # files of one call made into Files (the rest are named to the model only)
IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif", ".webp")
RESET: Final = "Code execution state reset: variables and imports from earlier calls are gone."
FORCE: Final = "Call the code_interpreter tool in this reply."
"""Said to the model when the run's `tool_choice` names the tool: MiniMax takes no named tool choice,
so the tool is the only one offered (`auto`) and the model is told."""
DECLARATION: Final = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Run Python code in a stateful sandboxed session (like a Jupyter notebook) and see its output. "
            "Variables, imports and files persist between calls. The working directory is /mnt/data, which "
            "holds the user's files; numpy, pandas and matplotlib are installed; there is no internet."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run"}},
            "required": ["code"],
        },
    },
}


def declared(run: Mapping[str, Any]) -> bool:
    return any(tool.get("type") == NAME for tool in run.get("tools") or ())


def guidance(names: Sequence[str]) -> str:
    """What the system message says of the tool (the files the session holds, when it has some)."""
    text = (
        "You can run Python with the code_interpreter tool to compute, analyse data and draw charts. "
        "Figures left open are shown to the user. To give the user a file, save it in /mnt/data and "
        "link it as sandbox:/mnt/data/NAME."
    )
    return f"{text}\nFiles in /mnt/data: {', '.join(names)}" if names else text


def _attached(history: Sequence[HistoryItem]) -> list[str]:
    return [
        a["file_id"]
        for item in history
        for a in item.attachments
        if isinstance(a, dict) and any(t.get("type") == NAME for t in a.get("tools") or ())
    ]


def _safe(filename: str) -> str:
    name = os.path.basename(filename.replace("\\", "/")).strip() or "file"
    return name if name not in (".", "..") else "file"


@dataclass(slots=True)
class Call:
    """One call served: its outputs (OpenAI's `logs` and `image` entries), what goes back to the model, the
    images it made (File ids, in order) and the files it wrote (name -> File id)."""

    outputs: list[dict[str, Any]]
    output: str
    images: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)


def details(call_id: str, code: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": call_id, "type": NAME, NAME: {"input": code, "outputs": outputs}}


class CodeInterpreter:
    """Serves code_interpreter calls in `sessions` (one per thread); files to and from the store."""

    def __init__(
        self, store: Store, sessions: CodeSessions, *, idle_seconds: float, max_file_bytes: int
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._idle = idle_seconds
        self._max_bytes = max_file_bytes
        self._given: dict[str, set[str]] = {}  # session key -> ids of the files put in it

    async def files(
        self, tenant: str, run: Mapping[str, Any], history: Sequence[HistoryItem]
    ) -> list[tuple[str, str]]:
        """The run's files for the session, as (file id, name in /mnt/data): the assistant's, the
        thread's, then its messages' attachments; files since deleted are left out; names made unique."""
        given = await tool_resources.ids(self._store, tenant, run, NAME, "file_ids")
        ids = list(dict.fromkeys(given + _attached(history)))
        out: list[tuple[str, str]] = []
        taken: set[str] = set()
        for file_id in ids:
            try:
                row = await self._store.files.retrieve(tenant, file_id)
            except StoreError:
                continue
            name = _safe(row["filename"])
            if name in taken:
                name = f"{file_id}-{name}"
            taken.add(name)
            out.append((file_id, name))
        return out

    async def call(
        self, tenant: str, run: Mapping[str, Any], code: str, files: Sequence[tuple[str, str]]
    ) -> Call:
        """Run the model's `code` in the thread's session (see the module doc)."""
        key = run["thread_id"]
        lost = await self._lost(tenant, key)
        try:
            await self._give(tenant, key, files)
            cell = await self._sessions.execute(key, code)
        except SandboxError as exc:
            text = f"Execution stopped: {exc}"
            return Call([{"type": "logs", "logs": text}], text)
        await self._store.code_sessions.touch(tenant, key, self._sessions.location)
        if cell.timed_out or cell.died:
            self._given.pop(key, None)  # the files stay in /mnt/data; only the interpreter is new
        images, written = await self._keep(tenant, key, cell)
        logs = _logs(cell)
        outputs: list[dict[str, Any]] = [{"type": "logs", "logs": logs}] if logs else []
        outputs += [{"type": "image", "image": {"file_id": file_id}} for file_id in images.values()]
        lines = [RESET] if lost or cell.reset else []
        if logs:
            lines.append(logs.rstrip("\n"))
        lines += [f"The code wrote sandbox:/mnt/data/{name}" for name in written]
        lines += [f"The code showed an image to the user ({name})" for name in images]
        return Call(
            outputs,
            "\n".join(lines) or "(no output)",
            list(images.values()),
            dict(written),
        )

    async def forget(self, thread_id: str) -> None:
        """The thread was deleted: its session ends now, with its files, wherever it lives."""
        self._given.pop(thread_id, None)
        with suppress(SandboxError):
            await self._sessions.close(thread_id)

    async def _lost(self, tenant: str, key: str) -> bool:
        """Whether the thread had a session that cannot be used (elsewhere, expired, ended): its state is
        lost. A new session starts either way; what the old one had been given is given again."""
        if await self._sessions.has(key):
            return False
        self._given.pop(key, None)
        return await self._store.code_sessions.get(tenant, key) is not None

    async def _give(self, tenant: str, key: str, files: Sequence[tuple[str, str]]) -> None:
        given = self._given.setdefault(key, set())
        for file_id, name in files[:MAX_FILES]:
            if file_id in given:
                continue
            await self._sessions.put_file(key, name, self._parts(file_id))
            given.add(file_id)

    async def _parts(self, file_id: str) -> AsyncIterator[bytes]:
        index = 0
        while (data := await self._store.files.part(file_id, index)) is not None:
            yield data
            index += 1

    async def _keep(self, tenant: str, key: str, cell: Cell) -> tuple[dict[str, str], dict[str, str]]:
        """Files for what the cell made: its figures and the images it wrote ({name: id}, shown), and
        the other files it wrote ({name: id}, for the answer's links)."""
        images: dict[str, str] = {}
        written: dict[str, str] = {}
        wrote_images = [n for n in cell.files if n.lower().endswith(IMAGE_SUFFIXES)]
        for name in [*cell.images, *wrote_images][:MAX_FILES_OUT]:
            if (file_id := await self._save(tenant, key, name)) is not None:
                images[name] = file_id
        for name in [n for n in cell.files if n not in wrote_images][:MAX_FILES_OUT]:
            if (file_id := await self._save(tenant, key, name)) is not None:
                written[name] = file_id
        return images, written

    async def _save(self, tenant: str, key: str, name: str) -> str | None:
        """A File of the session's `name` (streamed part by part); None if it cannot be read."""
        files = self._store.files
        file_id = await files.begin(tenant, filename=name, purpose=OUTPUT_PURPOSE, expires_at=None)
        size, part, buffer = 0, 0, bytearray()
        try:
            async for chunk in self._sessions.read_file(key, name, self._max_bytes):
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= PART_BYTES:
                    await files.write_part(file_id, part, bytes(buffer[:PART_BYTES]))
                    del buffer[:PART_BYTES]
                    part += 1
            if buffer or part == 0:
                await files.write_part(file_id, part, bytes(buffer))
            await files.finish(tenant, file_id, size)
        except SandboxError:
            await files.discard(file_id)
            return None
        except BaseException:
            await files.discard(file_id)
            raise
        return file_id


def _logs(cell: Cell) -> str:
    """The call's `logs` output: what it printed, its traceback, and why the session ended if it did."""
    text = cell.stdout
    if cell.truncated:
        text += "\n[output truncated]\n"
    if cell.error:
        if cell.timed_out or cell.died:
            text += f"Execution stopped: {cell.error}\n"
        else:
            text += cell.error
    return text
