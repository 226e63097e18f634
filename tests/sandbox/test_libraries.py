"""What code_interpreter's code can use inside the sandbox: numpy, pandas and matplotlib (Debian's
packages, in the read-only /usr), a chart drawn to a PNG in /mnt/data with no display."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.sandbox.run import Sandbox
from tests.sandbox.conftest import Session


def test_numpy_pandas_and_matplotlib_work_and_a_chart_lands_in_the_session(
    new_session: Callable[..., Session],
) -> None:
    s = new_session()
    (s.dir / "sales.csv").write_text("month,units\n1,10\n2,14\n3,9\n")
    code = (
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('sales.csv')\n"
        "print(int(df['units'].sum()), float(np.mean(df['units'])))\n"
        "df.plot(x='month', y='units')\n"
        "plt.savefig('chart.png')\n"
    )
    out = asyncio.run(Sandbox().run(code, s.dir, s.uid))
    assert out.exit_code == 0, out
    assert out.stdout == "33 11.0\n"
    assert (s.dir / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in s.dir.iterdir()) == ["chart.png", "sales.csv"]  # no caches left there
