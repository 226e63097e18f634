"""The program a session runs inside the sandbox: cells of code executed one after another in one
namespace, so that variables and imports survive between calls (as in a notebook).

It is not imported by the gateway: its source is handed to the sandbox's own interpreter (`python3 -I -c`),
which has only the standard library and Debian's packages. Protocol, on the process's stdin and its
original stdout (the cell's own prints are captured, never mixed in): each request and each reply is one
line of JSON. Request: `{"code": "..."}`. Reply: `{"stdout": "...", "error": "traceback" | null,
"images": ["name.png", ...], "files": ["name", ...], "truncated": bool}`: the cell's output (with the value
of a last bare expression, as a notebook shows it), its exception, the matplotlib figures it left open
(saved as PNG files in /mnt/data and closed), and the other files of /mnt/data it created or changed
(PNG files it wrote itself among them: the gateway shows those as images too).
"""

import ast
import io
import json
import os
import sys
import traceback
import uuid

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
MAX_FILES = 50  # files reported written by one cell
KERNEL = os.getpid()
_NOWHERE = io.StringIO()  # between cells (a thread a cell left running writes here, to nobody)


def _figures() -> list[str]:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    names = []
    for number in plt.get_fignums():
        name = f"figure-{uuid.uuid4().hex[:12]}.png"
        plt.figure(number).savefig(name)
        names.append(name)
    plt.close("all")
    return names


def _listing() -> dict[str, tuple[int, int]]:
    """The files directly in /mnt/data: name -> (size, modification time in ns)."""
    found = {}
    with os.scandir(".") as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                found[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return found


def _run(code: str, namespace: dict[str, object]) -> dict[str, object]:
    before = _listing()
    out = io.StringIO()
    error = None
    sys.stdout = sys.stderr = out
    try:
        tree = ast.parse(code, "<cell>")
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, "<cell>", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
            if value is not None:
                out.write(repr(value) + "\n")
    except BaseException:  # the cell's own failure (SystemExit and KeyboardInterrupt included)
        error = traceback.format_exc()
    finally:
        if os.getpid() != KERNEL:  # a process the cell forked came back here: only the kernel answers
            os._exit(0)
        sys.stdout = sys.stderr = _NOWHERE
        os.chdir("/mnt/data")  # a cell that changed directory: figures, the listing and the next cell
    try:
        images = _figures()
    except Exception:
        images, error = [], (error or "") + traceback.format_exc()
    text = out.getvalue()
    after = _listing()
    files = sorted(n for n, s in after.items() if before.get(n) != s and n not in images)[:MAX_FILES]
    return {
        "stdout": text[:LIMIT],
        "error": error[-LIMIT:] if error else None,  # its end: where the exception is named
        "images": images,
        "files": files,
        "truncated": len(text) > LIMIT,
    }


def main() -> None:
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # a cell reading stdin gets nothing of the protocol
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # what a cell writes below Python (a subprocess, C code) goes nowhere
    os.dup2(quiet, 2)
    sys.stdin = io.StringIO()
    sys.stdout = sys.stderr = _NOWHERE
    namespace: dict[str, object] = {"__name__": "__main__"}
    for line in requests:
        request = json.loads(line)
        replies.write(json.dumps(_run(request["code"], namespace)) + "\n")
        replies.flush()


main()
