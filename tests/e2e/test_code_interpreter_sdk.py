"""`code_interpreter` inside runs through the real Python SDK (openai 3.x, sync and async), on the engine over
SQLite and over PostgreSQL, with the emulator's model upstream (it calls the tool with a fenced ```python
block of the user's message exactly, or writes a program when asked to compute or plot) and real
bubblewrap sandboxes: the streamed step deltas (the code growing as its arguments stream, then `logs` and
`image` outputs with their indexes), a CSV analysed, a chart returned as `image_file` content and a File,
a written file as a `file_path` annotation, state kept between two runs of a thread, a session lost
(another replica, or ended) told to the model as "Code execution state reset", `tool_choice` forcing the
tool, and hostile code ending as an error output while the gateway goes on."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads import (
    FilePathAnnotation,
    ImageFile,
    Message,
    Text,
    TextContentBlock,
    TextDelta,
)
from openai.types.beta.threads.message_create_params import Attachment
from openai.types.beta.threads.runs import (
    CodeInterpreterToolCall,
    CodeInterpreterToolCallDelta,
    RunStep,
    ToolCall,
    ToolCallDelta,
    ToolCallsStepDetails,
)
from openai.types.beta.threads.runs.code_interpreter_tool_call import (
    CodeInterpreterOutput,
    CodeInterpreterOutputLogs,
)

from gateway.engine.code_interpreter import DECLARATION, FORCE, RESET
from gateway.loopback import ServerThread
from gateway.sandbox.run import Limits, Sandbox
from gateway.sandbox.server import create_app as create_sandbox_server
from gateway.sandbox.sessions import LocalSessions
from tests.e2e.files_helpers import DOCUMENTS, Gateway, engine_gateway, pg_database, settled_store

MODEL = "MiniMax-M2.7"
WALL = 4.0  # seconds a call's code may run here (CODE_WALL_SECONDS)
SECRET = f"probe-{uuid.uuid4().hex}"  # in the gateway's environment: code must never see it
FILE_LIMIT = 64 << 20  # the largest file code may write here (CODE_FILE_BYTES)
FIRST_UID = 240_000  # the sessions' users here (tests/sandbox takes its own from 230000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as users of their own: root")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    database_url = (
        pg_database(request.getfixturevalue("pg_server")) if request.param == "postgresql" else None
    )
    directory = tmp_path_factory.mktemp(f"code-{request.param}")
    os.environ["CODE_TEST_SECRET"] = SECRET
    # Sessions' users must reach their directories: not under pytest's own (closed to others).
    sandbox = Path(tempfile.mkdtemp(prefix="code-sessions-", dir="/tmp"))
    sandbox.chmod(0o711)
    try:
        with engine_gateway(
            directory,
            database_url=database_url,
            code_wall_seconds=WALL,
            code_sandbox_dir=sandbox,
            code_first_uid=FIRST_UID,
            code_file_bytes=FILE_LIMIT,
        ) as gateway:
            yield gateway
    finally:
        os.environ.pop("CODE_TEST_SECRET", None)
        shutil.rmtree(sandbox, ignore_errors=True)


def new_key() -> str:
    return f"sk-{uuid.uuid4().hex[:12]}"


def fenced(code: str) -> str:
    return f"Please run this:\n```python\n{code}\n```"


class Recorder(AssistantEventHandler):
    """What a streamed run showed the SDK's event handler."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.call_deltas: list[ToolCallDelta] = []
        self.calls_done: list[ToolCall] = []
        self.steps_done: list[RunStep] = []
        self.deltas: list[TextDelta] = []
        self.images: list[ImageFile] = []
        self.messages_done: list[Message] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        self.call_deltas.append(delta)

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        self.calls_done.append(tool_call)

    def on_run_step_done(self, run_step: RunStep) -> None:
        self.steps_done.append(run_step)

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.deltas.append(delta)

    def on_image_file_done(self, image_file: ImageFile) -> None:
        self.images.append(image_file)

    def on_message_done(self, message: Message) -> None:
        self.messages_done.append(message)


def code_call(call: ToolCall) -> CodeInterpreterToolCall:
    """A tool call the test knows is a code_interpreter call."""
    assert isinstance(call, CodeInterpreterToolCall), call
    return call


def code_delta(delta: ToolCallDelta) -> CodeInterpreterToolCallDelta:
    """A tool call delta the test knows is a code_interpreter call's."""
    assert isinstance(delta, CodeInterpreterToolCallDelta), delta
    return delta


def logs_of(output: CodeInterpreterOutput) -> str:
    """The text of an output the test knows is a `logs` output."""
    assert isinstance(output, CodeInterpreterOutputLogs), output
    return output.logs


@dataclass
class Ran:
    client: openai.OpenAI
    thread_id: str
    run: Any
    seen: Recorder
    tag: str  # a word of the run's message: the chat requests of the run are those that mention it
    calls: list[Any] = field(default_factory=list)  # the code_interpreter calls, as the step shows them

    def answer(self) -> Message:
        assert self.seen.messages_done, self.seen.events
        return self.seen.messages_done[-1]

    def text(self) -> Any:
        texts = [c.text for c in self.answer().content if c.type == "text"]
        assert len(texts) == 1, self.answer().content
        return texts[0]

    def logs(self) -> str:
        return "".join(
            o.logs for call in self.calls for o in call.code_interpreter.outputs if o.type == "logs"
        )


def run_in(client: openai.OpenAI, thread_id: str, assistant_id: str, content: str, **run: Any) -> Ran:
    tag = f"ref{uuid.uuid4().hex[:10]}"
    client.beta.threads.messages.create(thread_id, role="user", content=f"{content}\n({tag})")
    seen = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=seen, **run
    ) as stream:
        stream.until_done()
    assert stream.current_run is not None
    calls = [
        c
        for step in seen.steps_done
        if step.step_details.type == "tool_calls"
        for c in step.step_details.tool_calls
        if c.type == "code_interpreter"
    ]
    return Ran(client, thread_id, stream.current_run, seen, tag, calls)


@dataclass
class Setup:
    client: openai.OpenAI
    assistant_id: str


def setup(engine: Gateway, **assistant: Any) -> Setup:
    client = engine.client(new_key())
    made = client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}], **assistant)
    return Setup(client, made.id)


def ask(engine: Gateway, content: str, **assistant: Any) -> Ran:
    s = setup(engine, **assistant)
    thread = s.client.beta.threads.create()
    return run_in(s.client, thread.id, s.assistant_id, content)


# -- the call, streamed ------------------------------------------------------------------------------


def test_fenced_code_runs_and_its_call_streams_as_openai_did(engine: Gateway) -> None:
    code = 'print("a \\"quoted\\" line", 6 * 7)\nvalue = {"ü": [1, 2]}\nvalue'
    ran = run_in_new(engine, fenced(code))
    assert ran.run.status == "completed", ran.run
    (call,) = ran.calls
    code += "\n"  # the block's lines, each with its line end (the emulator's model keeps the last one)
    assert call.code_interpreter.input == code
    assert [o.type for o in call.code_interpreter.outputs] == ["logs"]
    assert call.code_interpreter.outputs[0].logs == "a \"quoted\" line 42\n{'ü': [1, 2]}\n"
    # The code grew in several deltas, as its arguments streamed, every delta with the call's index.
    deltas = [code_delta(d) for d in ran.seen.call_deltas]
    inputs = [d.code_interpreter.input for d in deltas if d.code_interpreter and d.code_interpreter.input]
    assert len(inputs) > 1 and "".join(inputs) == code
    assert all(d.index == 0 and d.type == "code_interpreter" for d in ran.seen.call_deltas)
    outputs = [o for d in deltas if d.code_interpreter for o in d.code_interpreter.outputs or ()]
    assert [(o.index, o.type) for o in outputs] == [(0, "logs")]
    assert code_call(ran.seen.calls_done[0]).code_interpreter.input == code
    assert "thread.run.requires_action" not in ran.seen.events
    # The answer quotes what the code printed (the model saw the output), and the step reads back whole.
    assert 'a "quoted" line 42' in ran.text().value
    steps = list(ran.client.beta.threads.runs.steps.list(ran.run.id, thread_id=ran.thread_id, order="asc"))
    stored = [c for s in steps if s.step_details.type == "tool_calls" for c in s.step_details.tool_calls]
    first = code_call(stored[0])
    assert first.code_interpreter.input == code and logs_of(first.code_interpreter.outputs[0]).endswith("}\n")


def run_in_new(engine: Gateway, content: str, **assistant: Any) -> Ran:
    return ask(engine, content, **assistant)


def test_an_exception_is_an_error_in_the_logs_and_the_run_completes(engine: Gateway) -> None:
    ran = run_in_new(engine, fenced("print('before')\n1 / 0"))
    assert ran.run.status == "completed"
    logs = ran.logs()
    assert logs.startswith("before\n") and "ZeroDivisionError: division by zero" in logs
    assert "ZeroDivisionError" in ran.text().value


def test_arguments_that_are_not_a_json_object_stop_the_call_and_the_model_is_told(engine: Gateway) -> None:
    """The model sends the bare program instead of `{"code": ...}` (the emulator's `raw_code` fault):
    nothing runs, the call ends with a logs output saying why, and the model answers from that."""
    ran = run_in_new(engine, fenced("print('ran' * 2)") + " [[fault:raw_code]]")
    assert ran.run.status == "completed", ran.run
    (call,) = ran.calls
    assert call.code_interpreter.input == ""  # nothing of it could be read as code
    logs = ran.logs()
    assert logs.startswith("Execution stopped: the call's arguments must be a JSON object"), logs
    assert "ranran" not in logs
    told = tool_messages(engine, ran)[-1]["content"]
    assert told == logs
    assert ran.text().value  # the model answered after it


# -- files in and out --------------------------------------------------------------------------------

SALES_ROWS = [("jan", 12, 2.5), ("feb", 7, 3.0), ("mar", 20, 1.75), ("apr", 9, 4.0)]
SALES = [("month", "units", "price"), *SALES_ROWS]


def sales_csv() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(SALES)
    return out.getvalue().encode()


def test_a_csv_of_the_assistant_is_analysed(engine: Gateway) -> None:
    client = engine.client(new_key())
    uploaded = client.files.create(file=("sales.csv", sales_csv()), purpose="assistants")
    s = client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [uploaded.id]}},
    )
    thread = client.beta.threads.create()
    ran = run_in(client, thread.id, s.id, "Compute the average of each column of the data, please.")
    assert ran.run.status == "completed", ran.run
    (call,) = ran.calls
    assert "/mnt/data/sales.csv" in call.code_interpreter.input
    logs = ran.logs()
    units = statistics.mean(r[1] for r in SALES_ROWS)
    price = statistics.mean(r[2] for r in SALES_ROWS)
    assert "(4, 3)" in logs, logs  # the shape pandas read: the file reached /mnt/data whole
    first = engine.requests_with(ran.tag)[0]  # MiniMax was offered the tool and told of the file
    assert [t["function"]["name"] for t in first["tools"]] == ["code_interpreter"]
    assert "Files in /mnt/data: sales.csv" in first["messages"][0]["content"]
    assert f"{units:g}" in logs and f"{price:g}" in logs, logs


def test_an_attached_csv_is_in_the_session_and_a_chart_comes_back_as_an_image(engine: Gateway) -> None:
    client = engine.client(new_key())
    uploaded = client.files.create(file=("sales.csv", sales_csv()), purpose="assistants")
    s = client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Here is the data.",
                "attachments": [{"file_id": uploaded.id, "tools": [{"type": "code_interpreter"}]}],
            }
        ]
    )
    ran = run_in(client, thread.id, s.id, "Plot a chart of the data.")
    assert ran.run.status == "completed", ran.run
    (call,) = ran.calls
    images = [o for o in call.code_interpreter.outputs if o.type == "image"]
    assert len(images) == 1, call.code_interpreter.outputs
    file_id = images[0].image.file_id
    # The answer shows the image first, as image_file content, then its text.
    content = ran.answer().content
    assert content[0].type == "image_file" and content[0].image_file.file_id == file_id, content
    assert content[-1].type == "text"
    assert [i.file_id for i in ran.seen.images] == [file_id]
    made = client.files.retrieve(file_id)
    assert made.purpose == "assistants_output" and made.filename.endswith(".png")
    png = client.files.content(file_id).read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) == made.bytes
    # The stored message says the same.
    stored = client.beta.threads.messages.retrieve(ran.answer().id, thread_id=thread.id)
    assert stored.content[0].type == "image_file" and stored.content[0].image_file.file_id == file_id


def test_a_written_file_is_a_file_path_annotation(engine: Gateway) -> None:
    code = "with open('report.txt', 'w') as f:\n    f.write('total: 48\\n')\nprint('saved')"
    ran = run_in_new(engine, fenced(code))
    assert ran.run.status == "completed", ran.run
    text = ran.text()
    link = "sandbox:/mnt/data/report.txt"
    assert link in text.value, text.value
    (note,) = [a for a in text.annotations if a.type == "file_path"]
    assert note.text == link and text.value[note.start_index : note.end_index] == link
    assert ran.client.files.content(note.file_path.file_id).read() == b"total: 48\n"
    assert ran.client.files.retrieve(note.file_path.file_id).filename == "report.txt"
    # The annotation came in a streamed delta too.
    streamed = [a for d in ran.seen.deltas for a in d.annotations or () if a.type == "file_path"]
    assert [a.file_path.file_id if a.file_path else None for a in streamed] == [note.file_path.file_id]


# -- the session -----------------------------------------------------------------------------------


def test_state_survives_between_two_runs_of_a_thread(engine: Gateway) -> None:
    s = setup(engine)
    thread = s.client.beta.threads.create()
    keep = "kept = 41\n_ = open('k.txt', 'w').write('x')"
    first = run_in(s.client, thread.id, s.assistant_id, fenced(keep))
    assert first.run.status == "completed" and first.logs() == ""
    second = run_in(
        s.client, thread.id, s.assistant_id, fenced("import os\nprint(kept + 1, os.listdir('.'))")
    )
    assert second.logs() == "42 ['k.txt']\n", second.logs()
    results = tool_messages(engine, second)
    assert results[-1]["content"].startswith("42 ") and RESET not in "".join(m["content"] for m in results)


def tool_messages(engine: Gateway, ran: Ran) -> list[dict[str, Any]]:
    """The tool results MiniMax was sent in the run's last chat request (its own call's last)."""
    last = engine.requests_with(ran.tag)[-1]
    return [m for m in last["messages"] if m.get("role") == "tool"]


def test_a_session_that_ran_out_of_time_is_reset_and_the_model_told(engine: Gateway) -> None:
    s = setup(engine)
    thread = s.client.beta.threads.create()
    run_in(s.client, thread.id, s.assistant_id, fenced("kept = 1"))
    stuck = run_in(s.client, thread.id, s.assistant_id, fenced("while True:\n    pass"))
    assert stuck.run.status == "completed", stuck.run  # the call failed, not the run: the model answered
    assert "Execution stopped" in stuck.logs() and "time limit" in stuck.logs()
    after = run_in(s.client, thread.id, s.assistant_id, fenced("print(kept)"))
    assert "NameError" in after.logs()
    assert tool_messages(engine, after)[-1]["content"].startswith(RESET)


def test_a_session_on_another_replica_is_lost_and_the_model_told(engine: Gateway, tmp_path: Path) -> None:
    """Two replicas on one database: the thread's session lives where its code last ran; a run on the
    other replica starts a new one (the thread's files given again), and the model hears of the reset
    once."""
    s = setup(engine)
    data = s.client.files.create(file=("sales.csv", sales_csv()), purpose="assistants")
    thread = s.client.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": [data.id]}})
    run_in(s.client, thread.id, s.assistant_id, fenced("kept = 1"))
    sandbox = Path(tempfile.mkdtemp(prefix="code-sessions-", dir="/tmp"))
    sandbox.chmod(0o711)
    try:
        with engine_gateway(
            tmp_path,
            database_url=engine.database_url,
            code_sandbox_dir=sandbox,
            code_first_uid=FIRST_UID + 100,
        ) as other:
            client = other.client(s.client.api_key)
            moved = run_in(
                client, thread.id, s.assistant_id, fenced("print(len(open('sales.csv', 'rb').read()))")
            )
            assert moved.logs().strip() == str(len(sales_csv())), moved.logs()
            assert other.requests_with(moved.tag)[-1]["messages"][-1]["content"].startswith(RESET)
            gone = run_in(client, thread.id, s.assistant_id, fenced("print(kept)"))
            assert "NameError" in gone.logs()
            assert not other.requests_with(gone.tag)[-1]["messages"][-1]["content"].startswith(RESET)
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def test_tool_choice_forces_the_tool(engine: Gateway) -> None:
    s = setup(engine)
    thread = s.client.beta.threads.create()
    ran = run_in(s.client, thread.id, s.assistant_id, "hello there", tool_choice={"type": "code_interpreter"})
    assert ran.run.status == "completed" and len(ran.calls) == 1, ran.seen.events
    first = engine.requests_with(ran.tag)[0]
    assert FORCE in first["messages"][0]["content"] and first["tool_choice"] == "auto"
    assert first["tools"] == [DECLARATION]


# -- with the other tools in one run -----------------------------------------------------------------

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def weather_given(ran: Ran, call_id: str) -> Recorder:
    """The run waiting for get_weather is given its output, streamed; it must complete."""
    seen = Recorder()
    with ran.client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=ran.thread_id,
        run_id=ran.run.id,
        tool_outputs=[{"tool_call_id": call_id, "output": "sunny, 21 C"}],
        event_handler=seen,
    ) as stream:
        stream.until_done()
    assert stream.current_run is not None and stream.current_run.status == "completed"
    return seen


def test_code_and_a_function_in_one_run(engine: Gateway) -> None:
    """The code runs at once; the function waits for its output (requires_action); then one answer."""
    client = engine.client(new_key())
    made = client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}, WEATHER])
    thread = client.beta.threads.create()
    ran = run_in(client, thread.id, made.id, fenced("print(2 + 2)") + "\nThen get_weather for Paris.")
    assert ran.run.status == "requires_action", ran.run
    waiting = ran.run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in waiting] == ["get_weather"]
    # The code call, already served, in the same step as the function call (which waits: in progress).
    (step,) = client.beta.threads.runs.steps.list(ran.run.id, thread_id=thread.id)
    assert step.status == "in_progress"
    assert isinstance(step.step_details, ToolCallsStepDetails)
    code, function = step.step_details.tool_calls
    assert code.type == "code_interpreter" and logs_of(code.code_interpreter.outputs[0]) == "4\n"
    assert function.type == "function" and function.id == waiting[0].id
    seen = weather_given(ran, waiting[0].id)
    answer = "".join(d.value or "" for d in seen.deltas)
    assert "4" in answer and "sunny, 21 C" in answer, answer


def test_what_code_made_before_a_wait_is_in_the_answer_after_it(engine: Gateway) -> None:
    """A chart drawn and a file written by code in the part of the run before requires_action: the
    answer after the outputs are submitted (the run's next part) shows the chart first and links the
    file, as a run that never waited does."""
    client = engine.client(new_key())
    made = client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}, WEATHER])
    thread = client.beta.threads.create()
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [1, 4, 9])\n"
        "with open('report.txt', 'w') as f:\n    f.write('total: 48\\n')\nprint('saved')"
    )
    ran = run_in(client, thread.id, made.id, fenced(code) + "\nThen get_weather for Paris.")
    assert ran.run.status == "requires_action", ran.run
    (step,) = client.beta.threads.runs.steps.list(ran.run.id, thread_id=thread.id)  # waiting: in progress
    assert isinstance(step.step_details, ToolCallsStepDetails)
    call = step.step_details.tool_calls[0]
    assert call.type == "code_interpreter"
    (image,) = [o.image.file_id for o in call.code_interpreter.outputs if o.type == "image"]
    assert not ran.seen.messages_done  # nothing shown yet: the run waits for get_weather
    waiting = ran.run.required_action.submit_tool_outputs.tool_calls
    seen = weather_given(ran, waiting[0].id)
    (answer,) = seen.messages_done
    assert answer.content[0].type == "image_file" and answer.content[0].image_file.file_id == image
    block = answer.content[-1]
    assert isinstance(block, TextContentBlock), block
    text = block.text
    link = "sandbox:/mnt/data/report.txt"
    assert link in text.value, text.value
    (note,) = [a for a in text.annotations if a.type == "file_path"]
    assert isinstance(note, FilePathAnnotation)
    assert text.value[note.start_index : note.end_index] == link
    assert client.files.content(note.file_path.file_id).read() == b"total: 48\n"
    stored = client.beta.threads.messages.retrieve(answer.id, thread_id=thread.id)
    assert stored.content[0].type == "image_file" and stored.content[0].image_file.file_id == image


def test_code_and_file_search_in_one_run(engine: Gateway) -> None:
    client = engine.client(new_key())
    doc = client.files.create(file=("handbook.md", DOCUMENTS["handbook.md"].encode()), purpose="assistants")
    store = client.vector_stores.create(file_ids=[doc.id])
    assert settled_store(client, store.id).file_counts.completed == 1
    made = client.beta.assistants.create(
        model=MODEL,
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create()
    asked = fenced("print(6 * 7)") + "\nAnd file_search the rollback procedure after a canary release."
    ran = run_in(client, thread.id, made.id, asked)
    assert ran.run.status == "completed", ran.run
    kinds = [
        c.type
        for s in ran.seen.steps_done
        if s.step_details.type == "tool_calls"
        for c in s.step_details.tool_calls
    ]
    assert kinds == ["code_interpreter", "file_search"]
    assert ran.logs() == "42\n"
    text = ran.text()
    assert "42" in text.value and any(a.type == "file_citation" for a in text.annotations), text


# -- hostile code ------------------------------------------------------------------------------------

HOSTILE = {
    "network": (
        "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 80))",
        ("OSError", "PermissionError", "Network is unreachable"),
    ),
    "environment": (
        "import os\nprint(sorted(os.environ))\nprint(open('/proc/1/environ', 'rb').read())",
        ("'HOME'",),
    ),
    "database": ("print(open({path!r}, 'rb').read(16))", ("FileNotFoundError",)),
    "memory": ("x = bytearray(8 << 30)", ("MemoryError",)),
    "fork bomb": (
        "import os\nwhile True:\n    os.fork()",
        ("BlockingIOError", "Resource temporarily unavailable", "Execution stopped"),
    ),
    "10 GB write": (
        "with open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(bytes(1 << 20))",
        ("File too large",),
    ),
    "infinite loop": ("while True:\n    pass", ("Execution stopped",)),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_ends_as_an_error_output_and_the_gateway_goes_on(engine: Gateway, name: str) -> None:
    code, expected = HOSTILE[name]
    if name == "database":  # the SQLite file (on PostgreSQL: a file of the host's that code must not see)
        sqlite = "sqlite" in engine.database_url
        code = code.format(path=engine.database_url.split("///")[-1] if sqlite else "/etc/shadow")
    ran = run_in_new(engine, fenced(code))
    assert ran.run.status == "completed", ran.run
    logs = ran.logs()
    assert any(word in logs for word in expected), logs
    assert SECRET not in logs and "CODE_TEST_SECRET" not in logs
    again = run_in_new(engine, fenced("print('still here')"))
    assert again.logs() == "still here\n"


# -- the async client --------------------------------------------------------------------------------


def test_the_async_client_streams_the_call(engine: Gateway) -> None:
    async def main() -> tuple[str, list[str]]:
        client = engine.async_client(new_key())
        try:
            made = await client.beta.assistants.create(model=MODEL, tools=[{"type": "code_interpreter"}])
            thread = await client.beta.threads.create(
                messages=[{"role": "user", "content": fenced("print(sum(range(10)))")}]
            )
            kinds: list[str] = []
            async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=made.id) as stream:
                async for event in stream:
                    kinds.append(event.event)
            run = stream.current_run
            assert run is not None
            steps = [s async for s in client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)]
            logs = [
                logs_of(o)
                for s in steps
                if s.step_details.type == "tool_calls"
                for c in s.step_details.tool_calls
                for o in code_call(c).code_interpreter.outputs
            ]
            return logs[0], kinds
        finally:
            await client.close()

    logs, kinds = asyncio.run(main())
    assert logs == "45\n"
    assert "thread.run.step.delta" in kinds and kinds[-1] == "thread.run.completed"


# -- the sandbox server --------------------------------------------------------------------------------


def test_the_gateway_runs_code_in_the_sandbox_server(tmp_path: Path) -> None:
    """CODE_SANDBOX_URL: the sessions live in the sandbox server (real HTTP), files and charts included;
    the gateway keeps none itself."""
    sandbox = Path(tempfile.mkdtemp(prefix="code-server-", dir="/tmp"))
    sandbox.chmod(0o711)
    sessions = LocalSessions(
        Sandbox(Limits(wall_seconds=WALL)),
        sandbox,
        location="server",
        idle_seconds=600,
        max_sessions=8,
        first_uid=FIRST_UID + 200,
    )
    token = uuid.uuid4().hex
    try:
        with (
            ServerThread(create_sandbox_server(sessions, token)) as server,
            engine_gateway(tmp_path, code_sandbox_url=server.url, code_sandbox_token=token) as engine,
        ):
            s = setup(engine)
            thread = s.client.beta.threads.create()
            first = run_in(s.client, thread.id, s.assistant_id, fenced("n = 6\nprint(n * 7)"))
            assert first.logs() == "42\n"
            chart = "import matplotlib.pyplot as plt\nplt.plot([1, 2], [n, n])\nprint(n)"
            second = run_in(s.client, thread.id, s.assistant_id, fenced(chart))
            assert second.logs() == "6\n"  # the same session: `n` kept
            (image,) = [o for o in second.calls[0].code_interpreter.outputs if o.type == "image"]
            assert s.client.files.content(image.image.file_id).read().startswith(b"\x89PNG")
            assert [p.name for p in sandbox.iterdir()] == [thread.id]  # the server's directory holds it
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def test_code_cannot_reach_another_threads_files(engine: Gateway) -> None:
    s = setup(engine)
    mine = s.client.beta.threads.create()
    run_in(s.client, mine.id, s.assistant_id, fenced("_ = open('secret.txt', 'w').write('s3cret')"))
    probe = (
        "import os\n"
        "print(os.listdir('/mnt'), os.listdir('/mnt/data'))\n"
        f"for path in ['/mnt/data/../{mine.id}/secret.txt', '/tmp/{mine.id}/secret.txt']:\n"
        "    print(os.path.exists(path))\n"
        "print([p for p in os.listdir('/tmp')])"
    )
    other = run_in_new(engine, fenced(probe))
    assert other.logs() == "['data'] []\nFalse\nFalse\n[]\n", other.logs()
    assert "s3cret" not in other.logs()


def test_deleting_a_thread_ends_its_session_and_files(engine: Gateway) -> None:
    s = setup(engine)
    thread = s.client.beta.threads.create()
    run_in(s.client, thread.id, s.assistant_id, fenced("_ = open('left.txt', 'w').write('x')"))
    assert engine.sandbox is not None and (engine.sandbox / thread.id / "left.txt").exists()
    assert s.client.beta.threads.delete(thread.id).deleted
    assert not (engine.sandbox / thread.id).exists()


def test_an_attachment_of_a_file_the_caller_does_not_have_is_refused(engine: Gateway) -> None:
    owner = engine.client(new_key())
    theirs = owner.files.create(file=("sales.csv", sales_csv()), purpose="assistants")
    s = setup(engine)  # another key: another tenant
    thread = s.client.beta.threads.create()
    attachment: Attachment = {"file_id": theirs.id, "tools": [{"type": "code_interpreter"}]}
    with pytest.raises(openai.NotFoundError):
        s.client.beta.threads.messages.create(thread.id, role="user", content="x", attachments=[attachment])
    with pytest.raises(openai.NotFoundError):
        s.client.beta.threads.create(messages=[{"role": "user", "content": "x", "attachments": [attachment]}])
    assert list(s.client.beta.threads.messages.list(thread.id)) == []
