"""A session keeps its interpreter between cells (variables, imports, files), shows a last expression's
value, reports a cell's exception without losing the session, saves open figures, and when a cell runs
past its time or kills the interpreter, the session is ended whole and the next cell says it was reset."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from gateway.sandbox.run import Limits, Sandbox
from gateway.sandbox.session import Cell, Session
from tests.sandbox.conftest import Session as Place

Opens = Callable[..., Place]


def cells(place: Place, codes: list[str], **limits: float) -> list[Cell]:
    async def main() -> list[Cell]:
        session = Session(Sandbox(Limits(**limits)), place.dir, place.uid)  # type: ignore[arg-type]
        try:
            return [await session.execute(code) for code in codes]
        finally:
            await session.close()

    return asyncio.run(main())


def test_state_survives_between_cells_and_a_last_expression_is_shown(
    new_session: Opens,
) -> None:
    first, second, third = cells(
        new_session(),
        ["import math\nx = 20", "print('x is', x)\nx + math.floor(2.5)", "open('a.txt', 'w').write('hi')"],
    )
    assert (first.stdout, first.error) == ("", None)
    assert second.stdout == "x is 20\n22\n" and second.error is None and not second.reset
    assert third.stdout == "2\n"


def test_an_exception_is_the_cells_error_and_the_session_goes_on(new_session: Opens) -> None:
    failed, after = cells(new_session(), ["y = 1\nprint('before')\n1 / 0", "y + 1"])
    assert failed.stdout == "before\n" and failed.error is not None and "ZeroDivisionError" in failed.error
    assert after.stdout == "2\n" and not after.reset


def test_a_cell_past_its_time_ends_the_session_and_the_next_one_is_told(
    new_session: Opens,
) -> None:
    kept, stuck, fresh = cells(new_session(), ["z = 5", "while True:\n    pass", "z"], wall_seconds=2)
    assert kept.error is None
    assert stuck.timed_out and stuck.error is not None
    assert fresh.reset and fresh.error is not None and "NameError" in fresh.error  # z went with the old one


def test_a_cell_that_kills_the_interpreter_ends_the_session(new_session: Opens) -> None:
    died, fresh = cells(new_session(), ["import os\nos._exit(3)", "print('back')"])
    assert died.died and died.error is not None
    assert fresh.reset and fresh.stdout == "back\n"


def test_open_figures_become_png_files_in_the_session(new_session: Opens) -> None:
    place = new_session()
    (cell,) = cells(
        place, ["import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('t')"]
    )
    assert cell.error is None and len(cell.images) == 1
    assert (place.dir / cell.images[0]).read_bytes()[:4] == b"\x89PNG"


def test_a_cell_cannot_read_the_protocol_or_write_around_it(new_session: Opens) -> None:
    sneaky, after = cells(
        new_session(),
        [
            'import sys, os\nprint(repr(sys.stdin.read()))\n_ = os.write(1, b\'{"stdout": "forged"}\\n\')',
            "print('ok')",
        ],
    )
    assert sneaky.stdout == "''\n" and sneaky.error is None
    assert after.stdout == "ok\n"


def test_a_process_the_cell_forks_never_answers_for_the_kernel(new_session: Opens) -> None:
    """A forked child that falls back out of the cell exits: it never writes a reply of its own, nor
    reads the next cell, so replies stay one per cell, in order."""
    forked, after, again = cells(
        new_session(),
        [
            "import os, time\npid = os.fork()\nprint('child' if pid == 0 else 'parent')",
            "time.sleep(0.2)\nprint('second')",
            "print('third')",
        ],
    )
    assert (forked.stdout, forked.error) == ("parent\n", None)
    assert (after.stdout, again.stdout) == ("second\n", "third\n")


def test_a_cell_whose_caller_gives_up_is_killed_and_the_next_one_is_told(new_session: Opens) -> None:
    """A run cancelled while its code runs: the cell does not go on behind the next one's back (its reply
    would answer the next cell); the next cell runs in a new interpreter and says so."""
    place = new_session()

    async def main() -> tuple[Cell, Cell]:
        session = Session(Sandbox(Limits()), place.dir, place.uid)
        try:
            await session.execute("kept = 1")
            slow = asyncio.ensure_future(session.execute("import time\ntime.sleep(30)\nprint('late')"))
            await asyncio.sleep(0.5)
            slow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slow
            return await session.execute("print('next')"), await session.execute("kept")
        finally:
            await session.close()

    after, gone = asyncio.run(main())
    assert after.reset and after.stdout == "next\n" and after.error is None
    assert "NameError" in (gone.error or "") and not gone.reset
