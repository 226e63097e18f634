"""Handlers for assistants, threads and messages (plain create/read/modify/list, no run logic)."""

from __future__ import annotations

from gateway.emulator.assistants.endpoint import JSON, Params
from gateway.emulator.assistants.shapes import Assistant, Message, TextContent, Thread
from gateway.emulator.ids import hex_id, new_id, now
from gateway.emulator.state import Context
from gateway.emulator.status_codes import invalid


class CrudHandlers:
    def __init__(self, ctx: Context) -> None:
        self.store = ctx.store

    # assistants
    async def create_assistant(self, p: Params) -> JSON:
        model = p.model(required=True)
        assert model is not None
        t = now()
        assistant = Assistant(new_id("asst"), t, model, updated_at=t)
        self._apply_assistant_fields(assistant, p)
        self.store.add_assistant(assistant)
        return assistant.to_json()

    def _apply_assistant_fields(self, a: Assistant, p: Params) -> None:
        for name in ("name", "description", "instructions"):
            value = p.opt_string(name)
            if value is not None:
                setattr(a, name, value)
        tools = p.tools()
        a.tools = a.tools if tools is None else tools
        file_ids = p.str_list("file_ids")
        a.file_ids = a.file_ids if file_ids is None else file_ids
        metadata = p.metadata()
        a.metadata = a.metadata if metadata is None else metadata
        rolemeta = p.obj("rolemeta")
        a.rolemeta = a.rolemeta if rolemeta is None else rolemeta
        t2a = p.obj("t2a_option")
        a.t2a_option = a.t2a_option if t2a is None else t2a

    async def retrieve_assistant(self, p: Params) -> JSON:
        return self.store.get_assistant(p.string("assistant_id")).to_json()

    async def list_assistants(self, p: Params) -> JSON:
        return p.list_page(list(self.store.assistants.values()), Assistant.to_json)

    async def modify_assistant(self, p: Params) -> JSON:
        assistant = self.store.get_assistant(p.string("id"))
        model = p.model(required=False)
        self._apply_assistant_fields(assistant, p)
        if model is not None:
            assistant.model = model
        assistant.updated_at = now()
        return {"assistant": assistant.to_json()}

    async def delete_assistant(self, p: Params) -> JSON:
        assistant_id = p.string("assistant_id")
        self.store.delete_assistant(assistant_id)
        return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}

    # threads
    async def create_thread(self, p: Params) -> JSON:
        thread = Thread(new_id("thread"), now(), p.metadata())
        self.store.add_thread(thread)
        return thread.to_json()

    async def retrieve_thread(self, p: Params) -> JSON:
        return self.store.get_thread(p.string("thread_id")).to_json()

    async def modify_thread(self, p: Params) -> JSON:
        thread = self.store.get_thread(p.string("id"))
        metadata = p.metadata()
        if metadata is not None:
            thread.metadata = metadata
        return {"thread": thread.to_json()}

    # messages
    async def add_message(self, p: Params) -> JSON:
        thread = self.store.get_thread(p.string("thread_id"))
        role = p.string("role") if p.raw("role") is not None else "user"
        if role not in ("user", "assistant"):
            raise invalid("role must be user or assistant")
        t = now()
        message = Message(new_id("msg"), thread.id, role, t, TextContent(hex_id(), p.string("content")))
        message.updated_at = t
        message.file_ids = p.str_list("file_ids") or []
        message.metadata = p.metadata()
        self.store.add_message(message)
        return message.to_json()

    async def list_messages(self, p: Params) -> JSON:
        messages = self.store.messages(p.string("thread_id"))
        run_id = p.opt_string("run_id")
        if run_id:
            messages = [m for m in messages if m.run_id == run_id]
        return p.list_page(messages, Message.to_json)

    async def retrieve_message(self, p: Params) -> JSON:
        return self.store.get_message(p.string("thread_id"), p.string("message_id")).to_json()
