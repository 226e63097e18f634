"""The emulator's model with `code_interpreter` offered, over real HTTP: the user's fenced blocks come back
as exactly their code (however the arguments are cut), plot and compute requests get programs that really
run (with Debian's python3, numpy, pandas and matplotlib), tool_choice is respected, and a result is
answered with its output, links to the files written, the images and the exception."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.emulator.chat import code
from gateway.emulator.chat.code import FORCE
from gateway.emulator.replies import text_reply, tool_result_reply
from tests.emulator.chat.reader import NATIVE, ChatEmu, Read
from tests.emulator.sse import parse_sse

CODE_TOOL = {
    "type": "function",
    "function": {
        "name": "code_interpreter",
        "description": "Run Python in a sandbox; /mnt/data holds the user's files.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "the Python code"}},
            "required": ["code"],
        },
    },
}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {}}}},
}
SEARCH_TOOL = {
    "type": "function",
    "function": {"name": "file_search", "parameters": {"type": "object", "properties": {"queries": {}}}},
}
FILES = "You can run code.\n\nFiles in /mnt/data: notes.txt, sales.csv, other.csv\nUse them."
CSV = "month,units,region\n1,10,north\n2,14,south\n3,9,north\n"
TRICKY = (  # quotes, backslashes, newlines, tabs, unicode (CJK, an emoji beyond the BMP, accents)
    's = "say \\"hi\\"\\n"\n'
    "path = 'C:\\\\temp\\\\new'\n"
    "if True:\n"
    "\tprint(s, path, '你好 🌍 café', r'\\d+')\n"
)
PYTHON = "/usr/bin/python3"  # Debian's, with numpy, pandas and matplotlib (as in the sandbox)


def body(
    text: str, system: str | None = None, tools: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    return {
        "model": "MiniMax-M2.7",
        "reasoning_split": True,
        "tools": [CODE_TOOL, WEATHER_TOOL] if tools is None else tools,
        "messages": [*messages, {"role": "user", "content": text}],
        **extra,
    }


def codes(read: Read) -> list[str]:
    """The code of each call, which must all be code_interpreter calls with only a `code` argument."""
    calls = read.tool_calls()
    assert read.finish_reason == "tool_calls" and calls, read
    assert [c["function"]["name"] for c in calls] == ["code_interpreter"] * len(calls)
    args = [orjson.loads(c["function"]["arguments"]) for c in calls]
    assert all(list(a) == ["code"] for a in args), args
    return [a["code"] for a in args]


def only_code(emu: ChatEmu, sent: dict[str, Any]) -> str:
    (program,) = codes(emu.stream(sent))
    return program


def argument_pieces(emu: ChatEmu, sent: dict[str, Any]) -> list[tuple[int, str]]:
    """(call index, arguments piece) of each tool-call delta of the raw stream, in order."""
    out = []
    for payload in parse_sse(emu.post({"stream": True, **sent}).content):
        obj = orjson.loads(payload)
        for choice in obj.get("choices") or []:
            for call in choice.get("delta", {}).get("tool_calls", []):
                out.append((call["index"], call["function"]["arguments"]))
    return out


def gateway_output(
    stdout: str = "",
    error: str | None = None,
    files: tuple[str, ...] = (),
    images: tuple[str, ...] = (),
    reset: bool = False,
    stopped: str | None = None,
) -> str:
    """A tool message's content as the gateway writes it for a code_interpreter run."""
    lines = (
        ["Code execution state reset: variables and imports from earlier calls are gone."] if reset else []
    )
    if stdout:
        lines.append(stdout.rstrip("\n"))
    if error:
        lines.append(error.rstrip("\n"))
    lines += [f"The code wrote sandbox:/mnt/data/{n}" for n in files]
    lines += [f"The code showed an image to the user ({n})" for n in images]
    if not (stdout or error or files or images):
        lines.append("(no output)")
    if stopped:
        lines.append(f"Execution stopped: {stopped}")
    return "\n".join(lines)


def answered(emu: ChatEmu, outputs: list[tuple[str, str]], user: str = "run it") -> Read:
    """The reply after calls of `outputs`' functions (name, tool message content), in that order."""
    calls = [
        {"id": f"call_function_x_{i}", "type": "function", "function": {"name": name, "arguments": "{}"}}
        for i, (name, _) in enumerate(outputs)
    ]
    results = [
        {"role": "tool", "tool_call_id": f"call_function_x_{i}", "content": content}
        for i, (_, content) in enumerate(outputs)
    ]
    assistant = {"role": "assistant", "content": "", "tool_calls": calls}
    read = emu.stream({**body(user), "messages": [{"role": "user", "content": user}, assistant, *results]})
    assert read.finish_reason == "stop" and read.calls == {}, read
    return read


def run_for_real(program: str, workdir: Path, epilogue: str = "") -> subprocess.CompletedProcess[str]:
    """`program` run by Debian's python3 in `workdir` standing in for /mnt/data (its paths rewritten);
    `epilogue` runs after it, as the sandbox looks at the figures left open."""
    env = {
        "MPLBACKEND": "Agg",
        "HOME": str(workdir),
        "MPLCONFIGDIR": str(workdir / ".mpl"),
        "PATH": "/usr/bin:/bin",
    }
    source = program.replace("/mnt/data/", f"{workdir}/") + epilogue
    return subprocess.run(
        [PYTHON, "-I", "-c", source], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


# -- a: fenced blocks --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4, 7])
def test_a_fenced_block_comes_back_as_exactly_its_code_however_cut(chat_emu: Any, size: int) -> None:
    emu = chat_emu(chars_per_chunk=size)
    text = f"Please run this:\n```python\n{TRICKY}```\nThanks!"
    read = emu.stream(body(text))
    assert codes(read) == [TRICKY] and TRICKY.endswith("\n")  # the final newline is kept
    assert read.answer == "" and read.reasoning == "The user gave a Python block: I will run it as written."
    pieces = argument_pieces(emu, body(text))
    whole = orjson.dumps({"code": TRICKY}).decode()
    assert [i for i, _ in pieces] == [0] * len(pieces) and "".join(p for _, p in pieces) == whole
    assert len(pieces) == -(-len(whole) // size) > 10
    cut_in_escape = [p for _, p in pieces if (len(p) - len(p.rstrip("\\"))) % 2 == 1]
    assert cut_in_escape if size > 1 else all(len(p) == 1 for _, p in pieces)


def test_arguments_whole_and_not_streamed_agree(chat_emu: Any) -> None:
    text = f"```py\n{TRICKY}```"
    whole = chat_emu(chat_tool_args="whole")
    assert codes(whole.stream(body(text))) == [TRICKY]
    assert len(argument_pieces(whole, body(text))) == 1
    r = whole.post({**body(text), "stream": False}, NATIVE)
    (call,) = r.json()["choices"][0]["message"]["tool_calls"]
    assert orjson.loads(call["function"]["arguments"]) == {"code": TRICKY}


def test_raw_code_sends_the_bare_program_as_the_arguments(chat_emu: Any) -> None:
    """The `raw_code` fault: arguments a gateway cannot read as `{"code": ...}`, streamed or not."""
    emu = chat_emu(chars_per_chunk=5)
    text = f"```py\n{TRICKY}```[[fault:raw_code]]"
    pieces = argument_pieces(emu, body(text))
    assert len(pieces) > 1 and "".join(p for _, p in pieces) == TRICKY
    r = emu.post({**body(text), "stream": False}, NATIVE)
    (call,) = r.json()["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "code_interpreter", "arguments": TRICKY}


def test_each_block_is_one_call_in_order_then_the_functions_named(chat_emu: Any) -> None:
    emu = chat_emu()
    text = (
        "First:\n```python\nx = 1\n```\nthen ```py is not a fence here\n"
        "```PY  \nprint(x)\n```python\nnot a closer\n```   \n"
        "```python\nprint('never closed')\nand get_weather for Paris."
    )
    read = emu.stream(body(text))
    calls = read.tool_calls()
    assert [c["function"]["name"] for c in calls] == ["code_interpreter", "code_interpreter", "get_weather"]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"code": "x = 1\n"},
        {"code": "print(x)\n```python\nnot a closer\n"},
        {"city": "Paris"},
    ]
    assert len({c["id"] for c in calls}) == 3 and sorted(read.calls) == [0, 1, 2]
    assert read.reasoning == "The user gave 2 Python blocks: I will run them as written."
    assert codes(emu.stream(body("```python\n```"))) == [""]  # an empty block is sent as it is


# -- b: programs written for the request ------------------------------------------------------------


def test_a_plot_without_a_csv_draws_x_squared(chat_emu: Any) -> None:
    emu = chat_emu()
    for system in (None, "Files in /mnt/data: notes.txt", "no files line, but sales.csv is mentioned"):
        program = only_code(emu, body("Can you Plot something nice?", system))
        ast.parse(program)
        assert "import matplotlib.pyplot as plt" in program and "x**2" in program
        assert "read_csv" not in program and "savefig" not in program
    assert only_code(emu, body("draw a chart and save it to a file")) == program  # save needs a CSV


def test_a_plot_with_a_csv_reads_the_first_csv_listed(chat_emu: Any) -> None:
    emu = chat_emu()
    read = emu.stream(body("please graph the sales", FILES))
    (program,) = codes(read)
    ast.parse(program)
    assert "matplotlib" in program and "pd.read_csv('/mnt/data/sales.csv')" in program
    assert "other.csv" not in program and "notes.txt" not in program and "savefig" not in program
    assert read.reasoning == "The user wants a plot: I will plot the numeric columns of sales.csv."
    saved = only_code(emu, body("plot the sales and export it", FILES))
    assert (
        "fig.savefig('/mnt/data/plot.png')" in saved
        and saved.replace("fig.savefig('/mnt/data/plot.png')\n", "") == program
    )


def test_compute_with_a_csv_describes_it_and_a_save_word_writes_summary(chat_emu: Any) -> None:
    emu = chat_emu()
    program = only_code(emu, body("What is the average number of units?", FILES))
    ast.parse(program)
    assert "pd.read_csv('/mnt/data/sales.csv')" in program and "df.describe()" in program
    assert "summary.csv" not in program and "matplotlib" not in program
    saved = only_code(emu, body("Analyse the data and save the results", FILES))
    assert "df.describe().to_csv('/mnt/data/summary.csv')" in saved
    plot_wins = only_code(emu, body("compute the mean and plot it", FILES))
    assert "matplotlib" in plot_wins and "describe" not in plot_wins


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("Please calculate (2 + 3) * 4.", "(2 + 3) * 4"),
        ("compute 2**10 for me", "2**10"),
        ("what is the sum: 1.5 + 2.25 - -1?", "1.5 + 2.25 - -1"),
        ("calculate 7 or (1 + 1) * 3.5", "(1 + 1) * 3.5"),  # the first run with an operation
        ("compute 1/0", "1/0"),
    ],
)
def test_arithmetic_without_a_csv_is_printed(chat_emu: Any, text: str, expression: str) -> None:
    emu = chat_emu()
    assert only_code(emu, body(text, "Files in /mnt/data: notes.txt")) == f"print({expression})\n"


def test_compute_words_without_a_csv_or_an_expression_fall_through(chat_emu: Any) -> None:
    emu = chat_emu()
    for text in ("compute the answer", "calculate 5", "sum 2024-01-05", "compute 7 // 2", "mean it"):
        read = emu.stream(body(text))
        assert read.calls == {} and read.answer == text_reply(text), text
    read = emu.stream(body("calculate the weather, get_weather for Oslo"))
    assert [c["function"]["name"] for c in read.tool_calls()] == ["get_weather"]  # rule 2 goes on


def test_code_wins_over_file_search_unless_named_and_the_rest_is_searched(chat_emu: Any) -> None:
    emu = chat_emu()
    tools = [SEARCH_TOOL, CODE_TOOL]
    assert codes(emu.stream(body("```python\nprint(1)\n```", FILES, tools))) == ["print(1)\n"]
    both = emu.stream(body("plot the file_search results", FILES, tools)).tool_calls()  # names it: both
    assert [c["function"]["name"] for c in both] == ["code_interpreter", "file_search"]
    assert "matplotlib" in orjson.loads(both[0]["function"]["arguments"])["code"]
    assert orjson.loads(both[1]["function"]["arguments"]) == {"queries": ["plot the file_search results"]}
    read = emu.stream(body("what do my files say about sales?", FILES, tools))
    (call,) = read.tool_calls()
    assert call["function"]["name"] == "file_search"
    assert orjson.loads(call["function"]["arguments"]) == {"queries": ["what do my files say about sales?"]}


# -- c: tool_choice ---------------------------------------------------------------------------------


def test_a_forced_tool_prints_the_texts_length(chat_emu: Any) -> None:
    """The gateway forces the tool by offering it alone and saying so (`FORCE`); offered alone without
    those words, the model just answers."""
    emu = chat_emu()
    text = "hello there, café 🌍"
    read = emu.stream(body(text, system=f"Be brief.\n\n{FORCE}", tools=[CODE_TOOL], tool_choice="auto"))
    assert codes(read) == [f"text = {text!r}\nprint(len(text))\n"]
    assert read.reasoning == "I must use code_interpreter: I will count the characters of the user's message."
    assert "print(2**3)" in only_code(emu, body("calculate 2**3", system=FORCE, tools=[CODE_TOOL]))  # b first
    for tools in ([CODE_TOOL], None):  # not forced: no call
        read = emu.stream(body(text, tools=tools))
        assert read.calls == {} and read.answer == text_reply(text)


def test_tool_choice_none_never_calls(chat_emu: Any) -> None:
    emu = chat_emu()
    for text, tools in [
        ("```python\nprint(1)\n```", None),
        ("plot the sales", None),
        ("hello", [CODE_TOOL]),
    ]:
        read = emu.stream(body(text, FILES, tools, tool_choice="none"))
        assert read.calls == {} and read.finish_reason == "stop" and read.answer == text_reply(text)


# -- the answer to a result --------------------------------------------------------------------------

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "<cell>", line 2, in <module>\n'
    "ZeroDivisionError: division by zero\n"
)


def test_a_result_is_quoted_with_links_images_and_the_exception(chat_emu: Any) -> None:
    emu = chat_emu()
    output = gateway_output(
        "rows: 3\n",
        TRACEBACK,
        files=("summary.csv", "plot.png"),
        images=("figure-1.png", "figure-2.png"),
        reset=True,
    )
    read = answered(emu, [("code_interpreter", output)])
    assert read.answer == (
        "The code execution state was reset: variables and imports from earlier calls are gone.\n\n"
        "The code printed:\n```\nrows: 3\n" + TRACEBACK + "```\n\n"
        "[summary.csv](sandbox:/mnt/data/summary.csv)\n[plot.png](sandbox:/mnt/data/plot.png)\n\n"
        "I showed 2 images.\n\n"
        "The code raised an exception: ZeroDivisionError: division by zero"
    )
    assert read.reasoning == "I received 1 tool result. I will quote each one verbatim."


def test_quiet_stopped_and_long_results(chat_emu: Any) -> None:
    emu = chat_emu()
    assert answered(emu, [("code_interpreter", gateway_output())]).answer == (
        "The code ran without printing anything."
    )
    stopped = gateway_output(images=("f.png",), stopped="the code ran past 30 seconds")
    assert answered(emu, [("code_interpreter", stopped)]).answer == (
        "The code ran without printing anything.\n\nI showed 1 image.\n\n"
        "Execution stopped: the code ran past 30 seconds"
    )
    engine_order = "partial\nExecution stopped: killed\nThe code showed an image to the user (f.png)"
    assert answered(emu, [("code_interpreter", engine_order)]).answer == (
        "The code printed:\n```\npartial\n```\n\nI showed 1 image.\n\nExecution stopped: killed"
    )
    long = "".join(f"{i:04d}\n" for i in range(500))  # 2500 characters, trailing newline trimmed
    quoted = answered(emu, [("code_interpreter", gateway_output(long))]).answer
    assert quoted == f"The code printed:\n```\n{long[:2000]}\n```\n(499 more characters not shown)"
    ticks = gateway_output("a ``` fence and ```` four\n")
    assert answered(emu, [("code_interpreter", ticks)]).answer == (
        "The code printed:\n`````\na ``` fence and ```` four\n`````"
    )


def test_several_results_are_set_apart_by_blank_lines(chat_emu: Any) -> None:
    emu = chat_emu()
    read = answered(
        emu,
        [("get_weather", "sunny"), ("code_interpreter", "2\n"), ("code_interpreter", gateway_output())],
    )
    assert read.answer == (
        tool_result_reply("get_weather", "sunny")
        + "\n\nThe code printed:\n```\n2\n```\n\nThe code ran without printing anything."
    )
    read = answered(emu, [("get_weather", "sunny"), ("get_weather", "rain")])
    assert read.answer == "The result of get_weather is: sunny The result of get_weather is: rain"


# -- the programs run for real -----------------------------------------------------------------------

FIGURES = (
    "\nimport matplotlib.pyplot as _plt\n"
    "for _n in _plt.get_fignums():\n"
    "    for _line in _plt.figure(_n).axes[0].lines:\n"
    "        print('line', _line.get_label(), [round(float(v), 2) for v in _line.get_ydata()])\n"
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "sales.csv").write_text(CSV)
    (tmp_path / "notes.txt").write_text("not a table\n")
    return tmp_path


def test_the_plot_programs_run_and_leave_their_figure_open(chat_emu: Any, data: Path) -> None:
    emu = chat_emu()
    squares = run_for_real(only_code(emu, body("plot")), data, FIGURES)
    assert squares.returncode == 0, squares.stderr
    assert squares.stdout == (
        "plotted y = x**2 for x in 0..9\n"
        "line y = x**2 [0.0, 1.0, 4.0, 9.0, 16.0, 25.0, 36.0, 49.0, 64.0, 81.0]\n"
    )
    sales = run_for_real(only_code(emu, body("plot the sales and save it", FILES)), data, FIGURES)
    assert sales.returncode == 0, sales.stderr
    assert sales.stdout == (
        "plotted 2 numeric column(s) of 3 rows: month, units\n"
        "line month [1.0, 2.0, 3.0]\n"
        "line units [10.0, 14.0, 9.0]\n"
    )
    assert (data / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_statistics_program_runs_and_its_answer_links_the_summary(chat_emu: Any, data: Path) -> None:
    emu = chat_emu()
    before = set(os.listdir(data))
    done = run_for_real(only_code(emu, body("calculate statistics and write a file", FILES)), data)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["shape: (3, 3)", "columns: month, units, region"]
    assert re.match(r"count +3\.0 +3\.0+$", lines[3]) and re.match(r"mean +2\.0 +11\.0+$", lines[4])
    assert lines[-3:] == ["mean of each numeric column:", "month     2.0", "units    11.0"]
    assert (data / "summary.csv").read_text().splitlines()[:2] == [",month,units", "count,3.0,3.0"]
    wrote = tuple(sorted(set(os.listdir(data)) - before - {".mpl"}))
    assert wrote == ("summary.csv",)
    read = answered(emu, [("code_interpreter", gateway_output(done.stdout, files=wrote))])
    assert read.answer.startswith("The code printed:\n```\nshape: (3, 3)\ncolumns: month, units, region\n")
    assert read.answer.endswith("units    11.0\n```\n\n[summary.csv](sandbox:/mnt/data/summary.csv)")


def test_arithmetic_and_forced_programs_run(chat_emu: Any, data: Path) -> None:
    emu = chat_emu()
    done = run_for_real(only_code(emu, body("calculate (2 + 3) * 4 - 2**3 / 4.")), data)
    assert (done.returncode, done.stdout, done.stderr) == (0, "18.0\n", "")
    forced = run_for_real(
        only_code(emu, body('héllo 🌍 "quoted" \\ back', system=FORCE, tools=[CODE_TOOL])), data
    )
    assert (forced.returncode, forced.stdout) == (0, "23\n")
    failed = run_for_real(only_code(emu, body("compute 1/0")), data)
    assert failed.returncode == 1 and failed.stderr.startswith("Traceback (most recent call last):")
    read = answered(emu, [("code_interpreter", gateway_output(error=failed.stderr))])
    assert read.answer.endswith("\n\nThe code raised an exception: ZeroDivisionError: division by zero")


def test_the_fenced_code_runs_as_written(chat_emu: Any, data: Path) -> None:
    emu = chat_emu()
    (program,) = codes(emu.stream(body(f"```python\n{TRICKY}```")))
    done = run_for_real(program, data)
    assert (done.returncode, done.stdout) == (0, 'say "hi"\n C:\\temp\\new 你好 🌍 café \\d+\n')
    assert code.fenced_blocks(f"```python\n{TRICKY}```") == [TRICKY]
