"""Per-request fault injection from run metadata (`emulator_fault`, `emulator_pace_ms`).

`emulator_fault` holds one or more comma-separated specs; "after N frames" counts SSE frames already
written (a malformed frame counts):
- `error_frame:N[:CODE]`: a frame with no `data` and a non-zero base_resp (default 1000), then a
  clean end; the run is marked failed.
- `cut:N`: abort the connection (chunked body left unterminated, `bodies.StreamCut`); the run goes on
  in the background.
- `error_body:CODE`: HTTP 200 with a one-line `{"base_resp": ...}` body instead of a stream.
- `http_status:STATUS`: that HTTP status with a JSON base_resp body.
- `malformed:N`: one frame whose data is not valid JSON, then continue normally.
- `stall:N:SECONDS`: sleep before continuing.
An N at or beyond the stream's frame count has no effect, except `cut:N` with N equal to it, which
breaks the body right after the final frame. Non-stream `run/create` honours error_body,
http_status, error_frame (N counts run changes; the run fails) and stall (N counts run changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.emulator.status_codes import error_body, invalid, standard_message

_HTTP_TO_CODE = {401: 1004, 403: 1004, 408: 1001, 429: 1002, 504: 1001}


@dataclass
class Faults:
    error_frame: tuple[int, int] | None = None  # (after N, code)
    cut: int | None = None
    error_body: int | None = None
    http_status: int | None = None
    malformed: int | None = None
    stall: tuple[int, float] | None = None  # (after N, seconds)
    _fired: set[str] = field(default_factory=set)

    def due(self, count: int) -> list[str]:
        """Fault names to apply now that `count` frames (or changes) were written; each fires once."""
        at = {
            "stall": self.stall[0] if self.stall else None,
            "malformed": self.malformed,
            "error_frame": self.error_frame[0] if self.error_frame else None,
            "cut": self.cut,
        }
        names = [name for name, n in at.items() if n == count and name not in self._fired]
        self._fired.update(names)
        return names

    def upfront(self) -> tuple[int, dict[str, object]] | None:
        """(HTTP status, JSON body) answering the request instead of running it, if any."""
        if self.http_status is not None:
            code = _HTTP_TO_CODE.get(self.http_status, 1000)
            return self.http_status, error_body(code, standard_message(code))
        if self.error_body is not None:
            return 200, error_body(self.error_body, standard_message(self.error_body))
        return None


def _int(text: str, spec: str, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"bad emulator_fault {spec!r}") from None
    if not lo <= value <= hi:
        raise invalid(f"bad emulator_fault {spec!r}: {value} not in [{lo}, {hi}]")
    return value


def parse_faults(metadata: Mapping[str, str] | None) -> Faults:
    faults = Faults()
    for spec in filter(None, (s.strip() for s in (metadata or {}).get("emulator_fault", "").split(","))):
        kind, *args = spec.split(":")
        shape = {"error_frame": (1, 2), "cut": (1, 1), "error_body": (1, 1), "http_status": (1, 1)}
        shape |= {"malformed": (1, 1), "stall": (2, 2)}
        if kind not in shape or not shape[kind][0] <= len(args) <= shape[kind][1]:
            raise invalid(f"bad emulator_fault {spec!r}")
        if kind == "error_frame":
            code = _int(args[1], spec, 1, 99999) if len(args) > 1 else 1000
            faults.error_frame = (_int(args[0], spec, 0, 10**6), code)
        elif kind == "cut":
            faults.cut = _int(args[0], spec, 0, 10**6)
        elif kind == "error_body":
            faults.error_body = _int(args[0], spec, 1, 99999)
        elif kind == "http_status":
            faults.http_status = _int(args[0], spec, 400, 599)
        elif kind == "malformed":
            faults.malformed = _int(args[0], spec, 0, 10**6)
        else:
            try:
                seconds = float(args[1])
            except ValueError:
                raise invalid(f"bad emulator_fault {spec!r}") from None
            if not 0 <= seconds <= 600:
                raise invalid(f"bad emulator_fault {spec!r}: seconds not in [0, 600]")
            faults.stall = (_int(args[0], spec, 0, 10**6), seconds)
    return faults


def pace_seconds(metadata: Mapping[str, str] | None, default_ms: float) -> float:
    """`emulator_pace_ms` from metadata, else the configured pace; in seconds."""
    raw = (metadata or {}).get("emulator_pace_ms")
    if raw is None:
        return default_ms / 1000
    try:
        value = float(raw)
    except ValueError:
        raise invalid(f"bad emulator_pace_ms {raw!r}") from None
    if not 0 <= value <= 60_000:
        raise invalid(f"bad emulator_pace_ms {raw!r}")
    return value / 1000
