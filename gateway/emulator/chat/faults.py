"""Chat-completions faults, read from `[[fault:...]]` markers in the last user message's text.

A marker holds comma-separated specs, e.g. `[[fault:malformed:2,stall:5:0.5]]`; every marker is removed
from the text the model sees. "After N chunks" counts `data:` events already written (empty-role,
malformed, usage, final-message and `[DONE]` events count); an N beyond the stream's count acts as
the count, i.e. the fault fires after the last event:
- `error_chunk:N[:CODE]`: a chunk with `base_resp.status_code` CODE (default 1000), then a clean end;
- `cut:N`: abort the connection (chunked body left unterminated);
- `malformed:N`: one event whose data is not JSON, then continue;
- `stall:N:SECONDS`: sleep before event N+1;
- `pace:MS`: this request's delay between events (overrides `pace_ms`);
- `error_before:CODE`: no stream; the endpoint's error shape for CODE;
- `http:STATUS`: no stream; that status with the compatible-style body on both endpoints;
- `raw_code`: the model's `code_interpreter` calls carry the bare program as their arguments instead of
  the JSON object `{"code": ...}` (a mistake models make), streamed or not.
Non-streamed requests honour only `error_before`, `http` and `raw_code`. A bad spec is a 2013.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.emulator.status_codes import invalid

MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")
_SHAPES = {
    "error_chunk": (1, 2),
    "cut": (1, 1),
    "malformed": (1, 1),
    "stall": (2, 2),
    "pace": (1, 1),
    "error_before": (1, 1),
    "http": (1, 1),
    "raw_code": (0, 0),
}


@dataclass
class ChatFaults:
    error_chunk: tuple[int, int] | None = None  # (after N, code)
    cut: int | None = None
    malformed: int | None = None
    stall: tuple[int, float] | None = None  # (after N, seconds)
    pace_ms: float | None = None
    error_before: int | None = None
    http: int | None = None
    raw_code: bool = False
    _fired: set[str] = field(default_factory=set)

    def due(self, written: int, *, at_end: bool) -> list[str]:
        """Names to apply now that `written` events are out (at the end: every one not yet fired), in
        the order stall, malformed, error_chunk, cut; each fires once."""
        at = {
            "stall": self.stall[0] if self.stall else None,
            "malformed": self.malformed,
            "error_chunk": self.error_chunk[0] if self.error_chunk else None,
            "cut": self.cut,
        }
        names = [
            name
            for name, n in at.items()
            if n is not None and name not in self._fired and (n == written or (at_end and n > written))
        ]
        self._fired.update(names)
        return names


def _number(text: str, spec: str, lo: float, hi: float, *, integer: bool = True) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise invalid(f"bad fault marker {spec!r}") from None
    if not lo <= value <= hi:
        raise invalid(f"bad fault marker {spec!r}: {value} not in [{lo}, {hi}]")
    return value


def _apply(faults: ChatFaults, spec: str) -> None:
    kind, *args = spec.split(":")
    if kind not in _SHAPES or not _SHAPES[kind][0] <= len(args) <= _SHAPES[kind][1]:
        raise invalid(f"bad fault marker {spec!r}")
    if kind == "raw_code":
        faults.raw_code = True
        return
    if kind == "pace":
        faults.pace_ms = _number(args[0], spec, 0, 60_000, integer=False)
        return
    n = int(_number(args[0], spec, 0, 10**6))
    if kind == "error_chunk":
        code = int(_number(args[1], spec, 1, 99999)) if len(args) > 1 else 1000
        faults.error_chunk = (n, code)
    elif kind == "cut":
        faults.cut = n
    elif kind == "malformed":
        faults.malformed = n
    elif kind == "stall":
        faults.stall = (n, _number(args[1], spec, 0, 600, integer=False))
    elif kind == "error_before":
        faults.error_before = int(_number(args[0], spec, 1, 99999))
    else:
        faults.http = int(_number(args[0], spec, 400, 599))


def split_faults(text: str) -> tuple[str, ChatFaults]:
    """(`text` without its markers and, when it had any, the whitespace around them; the faults)."""
    faults = ChatFaults()
    matches = list(MARKER.finditer(text))
    for match in matches:
        for spec in filter(None, (s.strip() for s in match.group(1).split(","))):
            _apply(faults, spec)
    return (MARKER.sub("", text).strip() if matches else text), faults
