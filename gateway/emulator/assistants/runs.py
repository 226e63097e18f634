"""Handlers for runs and run steps: create (background), retrieve, list, cancel, modify, tool outputs."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from gateway.emulator.assistants.endpoint import JSON, Params
from gateway.emulator.assistants.faults import Faults, pace_seconds, parse_faults
from gateway.emulator.assistants.progression import cancel_run, pending_tool_step
from gateway.emulator.assistants.shapes import Message, Run, RunStep, TextContent
from gateway.emulator.bodies import JsonResponse
from gateway.emulator.ids import hex_id, new_id, now
from gateway.emulator.state import Context
from gateway.emulator.status_codes import base_resp, invalid

RETRIEVAL_INSTRUCTION = (
    "\n回答中若参考了函数返回结果中的信息,请在该句末尾用【1†source】【2†source】【3†source】的形式标注信息来源。"
    "严禁使用其他的引用格式(如[1],【1】,²等等)。"
)


@dataclass
class PreparedRun:
    run: Run
    inputs: list[Message]
    faults: Faults


def _transcript(item: JSON) -> str:
    """Text of an input item; `type: 2` (hex audio) gets a deterministic fake ASR transcript."""
    content = item["content"]
    if item.get("type", 1) == 1:
        return str(content)
    try:
        return bytes.fromhex(content).decode("utf-8")
    except ValueError:
        return f"[audio: {len(content) // 2} bytes]"


def _check_inputs(items: list[JSON]) -> None:
    for i, item in enumerate(items):
        if item.get("type", 1) not in (1, 2) or isinstance(item.get("type"), bool):
            raise invalid(f"messages[{i}].type must be 1 (text) or 2 (audio)")
        if item.get("role", "user") != "user":
            raise invalid(f"messages[{i}].role must be user")
        if not isinstance(item.get("content"), str) or not item["content"]:
            raise invalid(f"messages[{i}].content is required")


def prepare_run(ctx: Context, p: Params, inputs: list[JSON] | None) -> PreparedRun | Response:
    """Validate a run request; answer an up-front fault; else store the input turns and a queued run."""
    store = ctx.store
    thread = store.get_thread(p.string("thread_id"))
    assistant = store.get_assistant(p.string("assistant_id"))
    model = p.model(required=False) or assistant.model
    instructions = p.opt_string("instructions")
    tools = p.tools()
    metadata = p.metadata()
    faults = parse_faults(metadata)
    pace_s = pace_seconds(metadata, ctx.config.pace_ms)
    _check_inputs(inputs or [])
    active = store.active_run(thread.id)
    if active is not None:
        raise invalid(f"thread {thread.id} already has an active run {active.id} (status {active.status})")
    if not inputs and store.latest_user_message(thread.id) is None:
        raise invalid(f"thread {thread.id} has no user message to answer")
    upfront = faults.upfront()
    if upfront is not None:
        return JsonResponse(upfront[1], status_code=upfront[0])
    t = now()
    added = []
    for item in inputs or []:
        message = Message(new_id("msg"), thread.id, "user", t, TextContent(hex_id(), _transcript(item)))
        message.updated_at = t
        store.add_message(message)
        added.append(message)
    tools = assistant.tools if tools is None else tools
    instructions = assistant.instructions if instructions is None else instructions
    if any(tool.get("type") == "retrieval" for tool in tools):
        instructions += RETRIEVAL_INSTRUCTION
    run = Run(new_id("run"), thread.id, assistant.id, t, model, instructions, tools, list(assistant.file_ids))
    run.metadata, run.updated_at, run.pace_s = metadata, t, pace_s
    run.t2a_option = p.obj("t2a_option") or assistant.t2a_option
    store.add_run(run)
    return PreparedRun(run, added, faults)


def _step_item(step: RunStep) -> JSON:
    """run_steps/list items each carry their own base_resp (docs/minimax-wire.md, "Envelopes and
    base_resp")."""
    return {**step.to_json(stream=False), "base_resp": base_resp()}


def _run_json(run: Run) -> JSON:
    return run.to_json(stream=False)


class RunHandlers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store

    async def create(self, p: Params) -> JSON | Response:
        prepared = prepare_run(self.ctx, p, None)
        if isinstance(prepared, Response):
            return prepared
        run = prepared.run
        body = run.to_json(stream=False)  # the queued snapshot, before the task can advance it
        self.ctx.runner.spawn(run, self.ctx.progression(run).start(), prepared.faults)
        return body

    def _run(self, p: Params) -> Run:
        return self.store.get_run(p.string("thread_id"), p.string("run_id"))

    async def retrieve(self, p: Params) -> JSON:
        return self._run(p).to_json(stream=False)

    async def list(self, p: Params) -> JSON:
        return p.list_page(self.store.runs(p.string("thread_id")), _run_json)

    async def cancel(self, p: Params) -> JSON:
        run = self._run(p)
        if not run.active:
            raise invalid(f"run {run.id} cannot be cancelled (status {run.status})")
        cancel_run(self.store, run)
        return {"run": run.to_json(stream=False)}

    async def modify(self, p: Params) -> JSON:
        run = self._run(p)
        metadata = p.metadata()
        if metadata is not None:
            run.metadata, run.updated_at = metadata, now()
        return {"run": run.to_json(stream=False)}

    async def submit_tool_outputs(self, p: Params) -> JSON:
        run = self._run(p)
        step = pending_tool_step(self.store, run)
        if run.status != "requires_action" or step is None:
            raise invalid(f"run {run.id} is not waiting for tool outputs (status {run.status})")
        outputs = p.obj_list("tool_outputs")
        if not outputs:
            raise invalid("tool_outputs is required")
        calls = {c["id"]: c for c in step.tool_calls if c.get("type") == "function"}
        given: dict[str, str] = {}
        for i, item in enumerate(outputs):
            call_id, output = item.get("tool_call_id"), item.get("output")
            if not isinstance(call_id, str) or call_id not in calls:
                raise invalid(f"tool_outputs[{i}]: unknown tool_call_id: {call_id}")
            if call_id in given:
                raise invalid(f"tool_outputs[{i}]: duplicate tool_call_id: {call_id}")
            if not isinstance(output, str):
                raise invalid(f"tool_outputs[{i}].output must be a string")
            given[call_id] = output
        missing = sorted(set(calls) - set(given))
        if missing:
            raise invalid(f"missing tool output for tool_call_id: {', '.join(missing)}")
        for call_id, output in given.items():
            calls[call_id]["function"]["output"] = output
        run.pending_calls, run.status, run.updated_at = None, "queued", now()
        body = run.to_json(stream=False)
        self.ctx.runner.spawn(run, self.ctx.progression(run).resume())
        return body

    async def list_steps(self, p: Params) -> JSON:
        run = self._run(p)
        return p.list_page(self.store.steps(run.id), _step_item)

    async def retrieve_step(self, p: Params) -> JSON:
        step = self.store.get_step(p.string("thread_id"), p.string("run_id"), p.string("step_id"))
        return step.to_json(stream=False)
