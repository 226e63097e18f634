"""The emulator's model with a `code_interpreter` function offered (as the gateway's engine offers it).

Calling it (`chat.model` rule 1a; `code_interpreter` offered, the last message a user message,
`tool_choice` not `none`), first match wins:
a. fenced blocks: each block of the user's text opened by a line ```` ```python ```` or
   ```` ```py ```` (the tag in any case, trailing spaces allowed, the fence at the start of its line)
   and closed by the next line that is ```` ``` ```` alone (trailing spaces allowed) is one call, in
   order, with `{"code": <the lines between the fence lines>}`: exactly as written, the final newline
   (the one before the closing fence) kept, so `print(1)` alone in a block is sent as `"print(1)\\n"`;
   an empty block is sent as `""`. A block left unclosed is no block.
b. a program written for the request, from the words of the user's text (whole words, any case) and
   the files of the system message's line `Files in /mnt/data: a.csv, notes.txt` (the names split at
   `, `; the CSV is the first name ending `.csv`, any case):
   - a plot word (`PLOT_WORDS`: plot, plots, chart, charts, graph, graphs, draw): with a CSV, a
     matplotlib program that reads it with pandas and plots each numeric column against the row number
     (the figure left open, so the sandbox shows it); without one, y = x**2 for x in 0..9;
   - else a compute word (`COMPUTE_WORDS`: compute, calculate, analyse, analyze, average, mean, sum,
     statistics): with a CSV, `pd.read_csv('/mnt/data/NAME')` and prints of `shape: (rows, columns)`,
     `columns: a, b`, `df.describe()`, then `mean of each numeric column:` and those means; without a
     CSV, `print(<expression>)` of the first arithmetic expression of the text (a maximal run of digits,
     `+ - * / ( ) .`, `**` and spaces, trimmed of spaces and a final period, that Python parses as
     numbers and those operators with at least one binary operation); with neither a CSV nor an
     expression, (b) does not apply;
   - with a CSV, a save word (`SAVE_WORDS`: save, write, export, file) also writes a file into
     /mnt/data: `summary.csv` (`df.describe()`) from the compute program, `plot.png` from the plot
     program. Without a CSV save words change nothing.
c. forced: the system message holds `FORCE` ("Call the code_interpreter tool in this reply.", what the
   gateway says when a run's `tool_choice` names the tool: MiniMax takes no named `tool_choice`) and
   neither (a) nor (b) applied: a program that prints the length of the user's text, `print(len(text))`,
   `text` being that text as a Python literal.
When none applies, the later rules go on (file_search, named functions, a text reply). Rule 1a comes
before file_search's (1b): a fenced block or a plot/compute request calls `code_interpreter` and not
`file_search`. Function tools the text names (as in rule 2; not code_interpreter or file_search) are
called after the code calls, in the same reply.

The answer to a code_interpreter result (`answer`, rule 1): the tool message is read as the gateway
writes it (the reset line first; then the output; then, at the end, the lines `The code wrote
sandbox:/mnt/data/NAME`, `The code showed an image to the user (NAME)`, `(no output)` and
`Execution stopped: ...`). The parts, each present only when it applies, joined by a blank line:
`The code execution state was reset: variables and imports from earlier calls are gone.`;
`The code printed:` and the rest of the output (its first `QUOTE_LIMIT` characters, newlines around it
trimmed) in a fenced block (a fence longer than any run of backticks in it), then
`(N more characters not shown)` when cut; or `The code ran without printing anything.`; one line
`[NAME](sandbox:/mnt/data/NAME)` per file written; `I showed 1 image.` / `I showed N images.`;
`The code raised an exception: <the traceback's last line>` when the output holds a
`Traceback (most recent call last):` line; the `Execution stopped: ...` line as sent.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import orjson

NAME: Final = "code_interpreter"
DATA: Final = "/mnt/data/"
PLOT_WORDS: Final = ("plot", "plots", "chart", "charts", "graph", "graphs", "draw")
COMPUTE_WORDS: Final = (
    "compute",
    "calculate",
    "analyse",
    "analyze",
    "average",
    "mean",
    "sum",
    "statistics",
)
SAVE_WORDS: Final = ("save", "write", "export", "file")
QUOTE_LIMIT: Final = 2000
RESET: Final = "Code execution state reset"
RESET_SAID: Final = "The code execution state was reset: variables and imports from earlier calls are gone."
NOTHING_PRINTED: Final = "The code ran without printing anything."
FORCE: Final = "Call the code_interpreter tool in this reply."  # the gateway's words (rule c)

_FENCE = re.compile(r"^```(?:python|py)[ \t]*\r?\n(.*?)^```[ \t]*\r?$", re.M | re.S | re.I)
_FILES = re.compile(r"^Files in /mnt/data: (.*?)\r?$", re.M)
_ARITHMETIC = re.compile(r"[0-9.+\-*/() \t]+")
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.UAdd, ast.USub)
_WROTE = re.compile(r"The code wrote sandbox:/mnt/data/(.+)")
_IMAGE = re.compile(r"The code showed an image to the user \((.+)\)")
_STOPPED = "Execution stopped:"
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):\r?$", re.M)


@dataclass(frozen=True)
class Plan:
    reasoning: str
    programs: tuple[str, ...]  # one code_interpreter call each, in order


def offered(names: Iterable[str]) -> bool:
    return NAME in names


def arguments(code: str) -> str:
    """A call's arguments, `{"code": ...}` as JSON (streamed in pieces like any tool's arguments)."""
    return orjson.dumps({"code": code}).decode()


def _has_any(text: str, words: Iterable[str]) -> bool:
    return any(re.search(rf"(?<!\w){w}(?!\w)", text, re.I) for w in words)


def fenced_blocks(text: str) -> list[str]:
    """The content of each ```python / ```py block of `text`, final newline kept."""
    return [m.group(1) for m in _FENCE.finditer(text)]


def data_files(system_text: str) -> list[str]:
    """The names of the system message's `Files in /mnt/data: ...` line (its first), in order."""
    line = _FILES.search(system_text)
    return [n for n in line.group(1).split(", ") if n] if line else []


def first_csv(names: Iterable[str]) -> str | None:
    return next((n for n in names if n.lower().endswith(".csv")), None)


def _allowed(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.operator | ast.unaryop):
        return isinstance(node, _OPERATORS)
    return isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp)


def _is_arithmetic(candidate: str) -> bool:
    try:
        tree = ast.parse(candidate, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    nodes = list(ast.walk(tree))
    return all(_allowed(n) for n in nodes) and any(isinstance(n, ast.BinOp) for n in nodes)


def arithmetic(text: str) -> str | None:
    """The first arithmetic expression of `text` (see the module's rule b), or None."""
    for run in _ARITHMETIC.finditer(text):
        candidate = run.group().strip().removesuffix(".").strip()
        if candidate and _is_arithmetic(candidate):
            return candidate
    return None


def plot_program(csv: str | None, save: bool) -> str:
    if csv is None:
        return (
            "import matplotlib.pyplot as plt\n"
            "\n"
            "x = list(range(10))\n"
            "y = [v**2 for v in x]\n"
            "fig, ax = plt.subplots()\n"
            "ax.plot(x, y, marker='o', label='y = x**2')\n"
            "ax.set_xlabel('x')\n"
            "ax.set_ylabel('y')\n"
            "ax.set_title('y = x**2')\n"
            "print('plotted y = x**2 for x in 0..9')\n"
        )
    lines = [
        "import matplotlib.pyplot as plt",
        "import pandas as pd",
        "",
        f"df = pd.read_csv({DATA + csv!r})",
        "numeric = df.select_dtypes('number')",
        "fig, ax = plt.subplots()",
        "for column in numeric.columns:",
        "    ax.plot(numeric.index, numeric[column], marker='o', label=str(column))",
        "if len(numeric.columns):",
        "    ax.legend()",
        "ax.set_xlabel('row')",
        f"ax.set_title({csv!r})",
    ]
    if save:
        lines.append(f"fig.savefig({DATA + 'plot.png'!r})")
    lines.append(
        "print('plotted', len(numeric.columns), 'numeric column(s) of', len(df), 'rows:',"
        " ', '.join(map(str, numeric.columns)))"
    )
    return "\n".join(lines) + "\n"


def stats_program(csv: str, save: bool) -> str:
    lines = [
        "import pandas as pd",
        "",
        f"df = pd.read_csv({DATA + csv!r})",
        "print('shape:', df.shape)",
        "print('columns:', ', '.join(map(str, df.columns)))",
        "print(df.describe())",
        "print('mean of each numeric column:')",
        "print(df.select_dtypes('number').mean().to_string())",
    ]
    if save:
        lines.append(f"df.describe().to_csv({DATA + 'summary.csv'!r})")
    return "\n".join(lines) + "\n"


def length_program(text: str) -> str:
    return f"text = {text!r}\nprint(len(text))\n"


def plan(user_text: str, system_text: str, forced: bool) -> Plan | None:
    """The code_interpreter calls for the user's text (rules a, b, c), or None when none applies."""
    blocks = fenced_blocks(user_text)
    if blocks:
        n = len(blocks)
        what = "a Python block" if n == 1 else f"{n} Python blocks"
        return Plan(
            f"The user gave {what}: I will run {'it' if n == 1 else 'them'} as written.", tuple(blocks)
        )
    csv = first_csv(data_files(system_text))
    save = csv is not None and _has_any(user_text, SAVE_WORDS)
    saved = " and save the result in /mnt/data" if save else ""
    if _has_any(user_text, PLOT_WORDS):
        subject = f"the numeric columns of {csv}" if csv else "y = x**2 for x in 0..9"
        return Plan(f"The user wants a plot: I will plot {subject}{saved}.", (plot_program(csv, save),))
    if _has_any(user_text, COMPUTE_WORDS):
        if csv is not None:
            return Plan(
                f"The user wants figures from {csv}: I will load it with pandas and describe it{saved}.",
                (stats_program(csv, save),),
            )
        expression = arithmetic(user_text)
        if expression is not None:
            return Plan(
                f"The user wants {expression} computed: I will evaluate it in Python.",
                (f"print({expression})\n",),
            )
    if forced:
        return Plan(
            f"I must use {NAME}: I will count the characters of the user's message.",
            (length_program(user_text),),
        )
    return None


def _fenced(text: str) -> str:
    longest = max((len(m.group()) for m in re.finditer("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def answer(output: str) -> str:
    """The reply to one code_interpreter result (see the module's docstring)."""
    lines = output.split("\n")
    parts: list[str] = []
    if lines and lines[0].startswith(RESET):
        parts.append(RESET_SAID)
        lines = lines[1:]
    files: list[str] = []
    images = 0
    stopped: str | None = None
    while lines:
        last = lines[-1].rstrip("\r")
        if (wrote := _WROTE.fullmatch(last)) is not None:
            files.insert(0, wrote.group(1))
        elif _IMAGE.fullmatch(last):
            images += 1
        elif last.startswith(_STOPPED):
            stopped = stopped or last
        elif last not in ("", "(no output)"):
            break
        lines.pop()
    body = "\n".join(lines).strip("\n")
    if body.strip():
        printed = f"The code printed:\n{_fenced(body[:QUOTE_LIMIT])}"
        if len(body) > QUOTE_LIMIT:
            printed += f"\n({len(body) - QUOTE_LIMIT} more characters not shown)"
        parts.append(printed)
    else:
        parts.append(NOTHING_PRINTED)
    if files:
        parts.append("\n".join(f"[{name}](sandbox:{DATA}{name})" for name in files))
    if images:
        parts.append(f"I showed {images} image{'s' if images != 1 else ''}.")
    tracebacks = list(_TRACEBACK.finditer(body))
    if tracebacks:
        after = [line for line in body[tracebacks[-1].end() :].split("\n") if line.strip()]
        if after:
            parts.append(f"The code raised an exception: {after[-1].strip()}")
    if stopped is not None:
        parts.append(stopped)
    return "\n\n".join(parts)
