"""MiniMax's `base_resp` envelope (on every answer of both APIs): whether it reports a failure, and its code.

One rule for the bridge's frames and the engine's chunks. The code is `status_code`, or `code` where a
MiniMax API names it so. No code, `0`, `"0"`, `""` or a boolean is success. Any other value is a failure,
its number taken from an integer or a string of digits (MiniMax has sent codes as strings); a value that
is neither still fails the call, as code 1000 (MiniMax's "unknown error"): a failure is never read as
success for want of a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

UNKNOWN: Final = 1000


def failure_code(base_resp: Mapping[str, Any]) -> int | None:
    """The failure code `base_resp` reports, or None when it reports success."""
    code = base_resp.get("status_code")
    if code is None:
        code = base_resp.get("code")
    return code_number(code)


def code_number(code: Any) -> int | None:
    """A code field's failure number, or None for success (see the module doc)."""
    if code is None or code == 0 or code == "0" or code == "" or isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.isascii() and code.strip().isdigit():
        number = int(code)
        return number or None
    return UNKNOWN
