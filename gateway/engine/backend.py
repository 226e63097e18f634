"""The engine backend: every Assistants operation on the gateway's own store, runs executed over
MiniMax chat completions. Store errors become OpenAI's errors here, once (`engine.errors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from gateway.backend import Caller, Documents, Obj, Page, RunResult
from gateway.engine import code_interpreter, file_search
from gateway.engine import store as st
from gateway.engine.documents import EngineDocuments
from gateway.engine.errors import maps_store_errors
from gateway.engine.executor import Executor
from gateway.engine.images import Images
from gateway.engine.signals import Signals
from gateway.engine.store import NewMessage, Store, ToolOutput
from gateway.errors import InvalidRequest
from gateway.schemas.openai import (
    AssistantIn,
    AssistantPatch,
    ImagePart,
    MessageIn,
    MetadataIn,
    RunIn,
    SubmitToolOutputsIn,
    TextPart,
    ThreadAndRunIn,
    ThreadIn,
)
from gateway.schemas.status import RunStatus
from gateway.stream.events import Event

T = TypeVar("T")
CANCEL_WAIT = 1.0  # seconds a cancel call waits for the run to be recorded cancelled
_CANCELLABLE = (RunStatus.QUEUED, RunStatus.IN_PROGRESS)  # executing, not yet cancelling: cancel it there
_SERVED = (file_search.NAME, code_interpreter.NAME)  # the tools the gateway itself serves


def _no_code(refusal: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"The code_interpreter tool is not available on this gateway: {refusal}",
        param=param,
        code="unsupported_tool",
    )


def _tools(
    tools: Sequence[dict[str, Any]] | None, code_refusal: str | None, param: str = "tools"
) -> list[dict[str, Any]] | None:
    """Function tools, file_search and code_interpreter (which the engine serves, the latter only where
    a sandbox runs: `code_refusal` says why not); a tool it cannot run is refused, never ignored."""
    if tools is None:
        return None
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type")
        if kind == "file_search":  # served by the gateway itself (`engine.file_search`)
            out.append({"type": "file_search", "file_search": tool.get("file_search") or {}})
            continue
        if kind == "code_interpreter":  # served in a sandbox (`engine.code_interpreter`)
            if code_refusal is not None:
                raise _no_code(code_refusal, f"{param}[{i}].type")
            out.append({"type": "code_interpreter"})
            continue
        if kind != "function":
            raise InvalidRequest(f"Invalid tool type {kind!r}", param=f"{param}[{i}].type")
        function = tool.get("function") or {}
        if not function.get("name"):
            raise InvalidRequest("A function tool needs function.name", param=f"{param}[{i}].function.name")
        name = function["name"]
        if name in _SERVED and any(t.get("type") == name for t in tools):
            raise InvalidRequest(
                f"A function may not be named {name} beside the {name} tool",
                param=f"{param}[{i}].function.name",
            )
        out.append({"type": "function", "function": function})
    return out


def _message(message: MessageIn, images: Images, code_refusal: str | None, param: str = "") -> NewMessage:
    """A client message for the store: text and image parts, in order (`images` checks an image part,
    all but an image_file's file: `EngineBackend._new`). `param` names the message in the request ("" when
    it is the body itself)."""
    at = f"{param}." if param else ""
    content: Any = message.content
    if not isinstance(content, str):
        content = [
            {"type": "text", "text": {"value": p.text, "annotations": []}}
            if isinstance(p, TextPart)
            else images.part(p.type, _image_of(p), message.role, f"{at}content[{i}]")
            for i, p in enumerate(content)
        ]
    for i, attachment in enumerate(message.attachments or ()):
        for j, tool in enumerate(attachment.get("tools") or ()):
            where = f"{at}attachments[{i}].tools[{j}].type"
            if tool.get("type") == "code_interpreter" and code_refusal is not None:
                raise _no_code(code_refusal, where)
            if tool.get("type") not in _SERVED:
                raise InvalidRequest(
                    f"Attachments for the {tool.get('type')} tool are not available with BACKEND=engine: "
                    "the engine runs file_search and code_interpreter",
                    param=where,
                    code="unsupported_tool",
                )
    return {
        "role": message.role,
        "content": content,
        "metadata": message.metadata,
        "attachments": message.attachments or [],
    }


def _attached(messages: Sequence[NewMessage]) -> list[str]:
    """The files the messages attach for file_search (they go into the thread's vector store)."""
    return [
        a["file_id"]
        for m in messages
        for a in m.get("attachments") or ()
        if any(t.get("type") == "file_search" for t in a.get("tools") or ())
    ]


def _image_of(part: ImagePart) -> dict[str, Any]:
    return (part.image_url if part.type == "image_url" else part.image_file) or {}


def _contents(param: str, messages: Sequence[NewMessage]) -> list[tuple[str, Any]]:
    """(where, content) of the messages that have content parts, for `Images.refuse_blind`."""
    return [
        (f"{param}[{i}]", m["content"]) for i, m in enumerate(messages) if not isinstance(m["content"], str)
    ]


@maps_store_errors
class EngineBackend:
    """`Backend` over the gateway's store and MiniMax chat completions."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        signals: Signals,
        aliases: Mapping[str, str],
        documents: EngineDocuments,
        images: Images,
        code_refusal: str | None = "it is not configured",
    ) -> None:
        self.documents: Documents = documents
        self._code_refusal = code_refusal  # why code_interpreter cannot run here; None: it can
        self._documents = documents  # the same, with the engine's own calls (tool resources, attachments)
        self._store = store
        self._executor = executor
        self._signals = signals
        self._aliases = aliases
        self._images = images
        self._schema_ok = False

    def _model(self, model: str | None, param: str = "model") -> str | None:
        """A model the engine can run: a MiniMax chat model (`MiniMax-...`) or a name `MODEL_ALIASES`
        maps to one. Kept as the client named it; mapped when the run calls MiniMax."""
        if model is None or model in self._aliases or model.lower().startswith("minimax-"):
            return model
        raise InvalidRequest(
            f"The model '{model}' does not exist: name a MiniMax chat model (MiniMax-M3, MiniMax-M2.7, ...) "
            "or one MODEL_ALIASES maps to one",
            param=param,
            code="model_not_found",
        )

    async def ready(self) -> bool:
        """The database answers with the schema this code expects, and MiniMax's host answers."""
        if not self._schema_ok:
            self._schema_ok = await self._store.at_head()  # once it is, it stays so in this process
            if not self._schema_ok:
                return False
        return await self._store.ping() and await self._executor.upstream_reachable()

    # -- assistants ------------------------------------------------------------------------------

    async def create_assistant(self, caller: Caller, body: AssistantIn) -> Obj:
        return await self._store.assistants.create(
            caller.tenant,
            model=self._model(body.model) or body.model,
            name=body.name,
            description=body.description,
            instructions=body.instructions,
            tools=_tools(body.tools, self._code_refusal),
            tool_resources=await self._documents.resources(caller, body.tool_resources, "tool_resources"),
            metadata=body.metadata,
            temperature=body.temperature,
            top_p=body.top_p,
            response_format=body.response_format or "auto",
        )

    async def retrieve_assistant(self, caller: Caller, assistant_id: str) -> Obj:
        return await self._store.assistants.retrieve(caller.tenant, assistant_id)

    async def list_assistants(self, caller: Caller, page: Page) -> Obj:
        return await self._store.assistants.list(caller.tenant, **_page(page))

    async def modify_assistant(self, caller: Caller, assistant_id: str, body: AssistantPatch) -> Obj:
        changes: Any = body.model_dump(exclude_unset=True)
        if "model" in changes:
            self._model(changes["model"])
        if "tools" in changes:
            changes["tools"] = _tools(changes["tools"], self._code_refusal) or []
        if changes.get("tool_resources"):
            changes["tool_resources"] = await self._documents.resources(
                caller, changes["tool_resources"], "tool_resources"
            )
        return await self._store.assistants.modify(caller.tenant, assistant_id, changes)

    async def delete_assistant(self, caller: Caller, assistant_id: str) -> Obj:
        return await self._store.assistants.delete(caller.tenant, assistant_id)

    # -- threads and messages --------------------------------------------------------------------

    async def _new(self, caller: Caller, message: MessageIn, param: str = "") -> NewMessage:
        """`_message`, its image_file parts' files and the files it attaches for code_interpreter checked
        in the store (the caller's own)."""
        new = _message(message, self._images, self._code_refusal, param)
        for attachment in new["attachments"] or ():
            if any(t.get("type") == code_interpreter.NAME for t in attachment.get("tools") or ()):
                await self._store.files.retrieve(caller.tenant, attachment["file_id"])
        if not isinstance(new["content"], str):
            at = f"{param}." if param else ""
            for i, block in enumerate(new["content"]):
                if block["type"] == "image_file":
                    file_id = block["image_file"]["file_id"]
                    await self._images.check_file(
                        self._store.files, caller.tenant, file_id, f"{at}content[{i}]"
                    )
        return new

    async def _news(
        self, caller: Caller, messages: Sequence[MessageIn] | None, param: str
    ) -> list[NewMessage]:
        return [await self._new(caller, m, f"{param}[{i}]") for i, m in enumerate(messages or ())]

    async def _new_thread(
        self,
        caller: Caller,
        body: ThreadIn,
        messages: list[NewMessage],
        param: str = "tool_resources",
        assistant_id: str | None = None,
    ) -> Obj:
        resources = await self._documents.resources(caller, body.tool_resources, param)
        thread = await self._store.threads.create(
            caller.tenant,
            metadata=body.metadata,
            tool_resources=resources,
            messages=messages,
            assistant_id=assistant_id,
        )
        if files := _attached(messages):
            return await self._documents.attach_to_thread(caller, thread["id"], files)
        return thread

    async def create_thread(self, caller: Caller, body: ThreadIn) -> Obj:
        return await self._new_thread(caller, body, await self._news(caller, body.messages, "messages"))

    async def retrieve_thread(self, caller: Caller, thread_id: str) -> Obj:
        return await self._store.threads.retrieve(caller.tenant, thread_id)

    async def modify_thread(self, caller: Caller, thread_id: str, body: MetadataIn) -> Obj:
        return await self._store.threads.modify(caller.tenant, thread_id, {"metadata": body.metadata or {}})

    async def delete_thread(self, caller: Caller, thread_id: str) -> Obj:
        deleted = await self._store.threads.delete(caller.tenant, thread_id)
        await self._executor.thread_deleted(thread_id)
        return deleted

    async def create_message(self, caller: Caller, thread_id: str, body: MessageIn) -> Obj:
        new = await self._new(caller, body)
        try:
            made = await self._store.messages.add(caller.tenant, thread_id, new)
        except st.ThreadBusy as exc:
            raise InvalidRequest(
                f"Can't add messages to {exc.thread_id} while a run {exc.run_id} is active."
            ) from None
        if files := _attached([new]):
            await self._documents.attach_to_thread(caller, thread_id, files)
        return made

    async def list_messages(self, caller: Caller, thread_id: str, page: Page, run_id: str | None) -> Obj:
        return await self._store.messages.list(caller.tenant, thread_id, run_id=run_id, **_page(page))

    async def retrieve_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj:
        return await self._store.messages.retrieve(caller.tenant, thread_id, message_id)

    async def modify_message(self, caller: Caller, thread_id: str, message_id: str, body: MetadataIn) -> Obj:
        return await self._store.messages.modify(
            caller.tenant, thread_id, message_id, metadata=body.metadata or {}
        )

    async def delete_message(self, caller: Caller, thread_id: str, message_id: str) -> Obj:
        return await self._store.messages.delete(caller.tenant, thread_id, message_id)

    # -- runs ------------------------------------------------------------------------------------

    async def create_run(
        self, caller: Caller, thread_id: str, body: RunIn, include: Sequence[str] = ()
    ) -> RunResult:
        tools = _tools(body.tools, self._code_refusal)
        messages = await self._news(caller, body.additional_messages, "additional_messages")
        model = self._model(body.model)
        await self._images.refuse_blind(
            self._store,
            caller.tenant,
            thread_id,
            model,
            body.assistant_id,
            _contents("additional_messages", messages),
        )
        return await self._run(caller, thread_id, body, tools, messages, (), include)

    async def create_thread_and_run(self, caller: Caller, body: ThreadAndRunIn) -> RunResult:
        # The assistant's 404 comes before anything is made: checked in the thread's own transaction,
        # or first when the thread's tool_resources make vector stores before it.
        tools = _tools(body.tools, self._code_refusal)
        thread_in = body.thread or ThreadIn()
        if thread_in.tool_resources is not None:
            await self._store.assistants.retrieve(caller.tenant, body.assistant_id)
        first = await self._news(caller, thread_in.messages, "thread.messages")
        messages = await self._news(caller, body.additional_messages, "additional_messages")
        model = self._model(body.model)  # None: the assistant's, read only if an image needs it
        new = _contents("thread.messages", first) + _contents("additional_messages", messages)
        await self._images.refuse_blind(self._store, caller.tenant, None, model, body.assistant_id, new)
        if thread_in.tool_resources is None and not _attached(first):  # the thread is made with the run
            return await self._run(caller, (thread_in, first), body, tools, messages, ())
        thread = await self._new_thread(
            caller, thread_in, first, "thread.tool_resources", assistant_id=body.assistant_id
        )
        return await self._run(caller, thread["id"], body, tools, messages, [Event("thread.created", thread)])

    async def _run(
        self,
        caller: Caller,
        thread: str | tuple[ThreadIn, list[NewMessage]],
        body: RunIn,
        tools: list[dict[str, Any]] | None,
        messages: list[NewMessage],
        prelude: Sequence[Event],
        include: Sequence[str] = (),
    ) -> RunResult:
        """Create the run already started, and start it (its request checked). `thread` is the thread's
        id, or a new thread and its first messages, made in the run's own store write (its
        `thread.created` then opens the prelude)."""
        choice = body.tool_choice
        if isinstance(choice, dict) and (kind := choice.get("type")) in _SERVED:
            offered = tools
            if offered is None:
                offered = (await self._store.assistants.retrieve(caller.tenant, body.assistant_id))["tools"]
            if not any(t.get("type") == kind for t in offered or ()):
                raise InvalidRequest(
                    f"tool_choice names {kind}, which is not among the run's tools", param="tool_choice"
                )
        instructions = body.instructions
        if body.additional_instructions:
            if instructions is None:
                assistant = await self._store.assistants.retrieve(caller.tenant, body.assistant_id)
                instructions = assistant.get("instructions") or ""
            instructions = "\n\n".join(t for t in (instructions, body.additional_instructions) if t)
        fields = dict(
            model=self._model(body.model),
            instructions=instructions,
            tools=tools,
            metadata=body.metadata,
            temperature=body.temperature,
            top_p=body.top_p,
            max_prompt_tokens=body.max_prompt_tokens,
            max_completion_tokens=body.max_completion_tokens,
            truncation_strategy=body.truncation_strategy,
            tool_choice=body.tool_choice if body.tool_choice is not None else "auto",
            parallel_tool_calls=body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
            response_format=body.response_format,
            additional_messages=messages,
            lease_owner=self._executor.owner,
        )
        runs = self._store.runs
        if isinstance(thread, str):
            thread_id = thread
            run, history = await runs.create_started(caller.tenant, thread_id, body.assistant_id, **fields)
        else:
            made, run, history = await runs.create_started_in_new_thread(
                caller.tenant,
                body.assistant_id,
                thread_metadata=thread[0].metadata,
                thread_messages=thread[1],
                **fields,
            )
            thread_id, prelude = made["id"], [Event("thread.created", made)]
        if files := _attached(messages):
            await self._documents.attach_to_thread(caller, thread_id, files)
        events = await self._executor.start(
            caller, run, stream=bool(body.stream), prelude=prelude, history=history, include=include
        )
        return run if events is None else events

    async def list_runs(self, caller: Caller, thread_id: str, page: Page) -> Obj:
        return await self._store.runs.list(caller.tenant, thread_id, **_page(page))

    async def retrieve_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj:
        return await self._store.runs.retrieve(caller.tenant, thread_id, run_id)

    async def modify_run(self, caller: Caller, thread_id: str, run_id: str, body: MetadataIn) -> Obj:
        return await self._store.runs.modify(caller.tenant, thread_id, run_id, metadata=body.metadata or {})

    async def cancel_run(self, caller: Caller, thread_id: str, run_id: str) -> Obj:
        """A running run goes `cancelling` and the process executing it (this one or another
        replica: `Signals`) stops it at once, closing its MiniMax request; the answer waits up to a
        second for `cancelled`. A run waiting for tool outputs is cancelled in the store."""
        runs = self._store.runs
        run = await runs.retrieve(caller.tenant, thread_id, run_id)
        status = run["status"]
        if status in _CANCELLABLE:
            if await runs.transition(caller.tenant, run_id, _CANCELLABLE, RunStatus.CANCELLING):
                await self._signals.cancel(run_id)
                await self._settled(caller, thread_id, run_id, CANCEL_WAIT)
        elif status == RunStatus.REQUIRES_ACTION:
            await runs.transition(
                caller.tenant, run_id, (RunStatus.REQUIRES_ACTION,), RunStatus.CANCELLED, close_children=True
            )
        elif status != RunStatus.CANCELLING:
            raise InvalidRequest(f"Cannot cancel run with status '{status}'.")
        return await runs.retrieve(caller.tenant, thread_id, run_id)

    async def _settled(self, caller: Caller, thread_id: str, run_id: str, seconds: float) -> None:
        """Wait (at most `seconds`) until a cancelling run is recorded as ended."""
        if run_id in self._executor.jobs:
            await self._executor.wait(run_id, seconds)
            return
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            found = await self._store.runs.retrieve(caller.tenant, thread_id, run_id)
            if found["status"] != RunStatus.CANCELLING:
                return
            await asyncio.sleep(0.05)

    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputsIn
    ) -> RunResult:
        outputs = [ToolOutput(tool_call_id=o.tool_call_id, output=o.output) for o in body.tool_outputs]
        run, step = await self._store.runs.submit_tool_outputs(
            caller.tenant, thread_id, run_id, outputs, lease_owner=self._executor.owner
        )
        events = await self._executor.start(caller, run, stream=bool(body.stream), resumed_step=step)
        return run if events is None else events

    async def list_steps(
        self, caller: Caller, thread_id: str, run_id: str, page: Page, include: list[str]
    ) -> Obj:
        found = await self._store.steps.list(caller.tenant, thread_id, run_id, **_page(page))
        return {**found, "data": [file_search.without_content(step, include) for step in found["data"]]}

    async def retrieve_step(
        self, caller: Caller, thread_id: str, run_id: str, step_id: str, include: list[str]
    ) -> Obj:
        step = await self._store.steps.retrieve(caller.tenant, thread_id, run_id, step_id)
        return file_search.without_content(step, include)


def _page(page: Page) -> dict[str, Any]:
    return {"limit": page.limit, "order": page.order, "after": page.after, "before": page.before}
