"""The benchmark's scenarios (full and --quick sizes) and how each becomes a load for each target.

Four families, each with its own targets (columns) and ratios:
- `assistants`: the bridge (`gateway`, and `baseline`: the same from an older checkout) against the
  naive pass-through of MiniMax's Assistants stream;
- `chat`: the `engine` against the naive pass-through (`naive-chat`) and nginx relaying MiniMax's
  chat stream, the shape in the user message (see upstream_chat.py);
- `run`: the same targets, windowed (kind `window`, load_window.py): each engine request is a streamed
  create-thread-and-run (`POST /v1/threads/runs`, one assistant per process made at set-up), each raw
  chat target's the chat stream it relays; answer-only chunks of 32 characters (the `ans` dialect);
  every client replaces its stream when it ends. Also `engine-pg2`: two engine replicas on one
  PostgreSQL database, the load split between them (`engine-pg`, one process on PostgreSQL, only when
  asked for), compared with the `engine` on SQLite;
- `store`: the engine's store alone, CPU per run (store_cpu.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

from tests.bench.load import LoadSpec
from tests.bench.upstream import StreamShape
from tests.bench.upstream_chat import MODEL, REASONING_CHUNKS

# Engine replicas on one throwaway PostgreSQL database, by target (the `run` family only): the issue's
# figure is two replicas' CPU per chunk against one process on SQLite.
# `engine-pg2-baseline` is `engine-pg2` from `--baseline DIR`, on a database DIR's own migrations made.
REPLICAS = {"engine-pg": 1, "engine-pg2": 2, "engine-pg2-baseline": 2}
# The engine, from this checkout (on SQLite, or on PostgreSQL) or `--baseline DIR`
ENGINES = frozenset({"engine", "engine-baseline", *REPLICAS})
# the targets that need `--baseline DIR`
BASELINES = frozenset({"baseline", "engine-baseline", "engine-pg2-baseline"})
# run only when named with --target (not by default)
ASKED_ONLY = frozenset({"engine-pg", "engine-pg2-baseline"})
# Run only when named with --scenario: `run_p50x50` offers `run_p500x5`'s chunk rate over a tenth of the
# streams, to tell a chunk's own cost from what 500 streams' objects cost it (tests/bench/README.md)
NAMED_ONLY = frozenset({"run_p50x50"})
FAMILY_TARGETS = {
    "assistants": ("direct", "naive", "gateway", "baseline"),
    "chat": ("direct", "naive-chat", "nginx", "engine", "engine-baseline"),
    "run": (
        "direct",
        "naive-chat",
        "floor-asgi",
        "floor-proto",
        "nginx",
        "engine",
        "engine-pg",
        "engine-pg2",
        "engine-baseline",
        "engine-pg2-baseline",
    ),
    "store": ("engine",),
}
TARGETS = tuple(dict.fromkeys(t for family in FAMILY_TARGETS.values() for t in family))
"""Every target, once (the order each scenario runs them in is its family's, above)."""
RATIOS = {  # (numerator, denominator) columns of each family's tables
    "assistants": (("gateway", "naive"), ("gateway", "baseline")),
    "chat": (("engine", "naive-chat"), ("engine", "nginx"), ("engine", "engine-baseline")),
    "run": (
        ("engine", "naive-chat"),
        ("engine", "nginx"),
        ("engine", "floor-asgi"),
        ("floor-asgi", "nginx"),
        ("floor-proto", "nginx"),
        ("engine", "engine-baseline"),
        ("engine-pg", "engine"),
        ("engine-pg2", "engine"),
        ("engine-pg2", "engine-pg2-baseline"),
    ),
    "store": (),
}
RUN_BODY = orjson.dumps({"assistant_id": "asst_bench", "stream": True})


def chat_body(text: str) -> bytes:
    """The chat request the raw chat targets send: what the engine sends for a one-message thread."""
    messages = [{"role": "user", "content": text}]
    return orjson.dumps({"model": MODEL, "messages": messages, "stream": True, "reasoning_split": True})


def thread_run_body(assistant_id: str, text: str) -> bytes:
    """The engine's request in the `run` family: a streamed create-thread-and-run, the shape its message."""
    thread = {"messages": [{"role": "user", "content": text}]}
    return orjson.dumps({"assistant_id": assistant_id, "thread": thread, "stream": True})


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: str  # "load" | "long" | "soak" | "window"
    concurrency: int
    frames: int  # message frames per stream
    pace_ms: float = 0.0
    streams_per_worker: int = 1
    ramp_s: float = 0.0
    cumulative: bool = False
    hold_s: float = 0.0
    repeat: int | None = None  # overrides --repeat (the soak runs once)
    family: str = "assistants"
    rounds: int = 0  # store: rounds of `frames` runs each
    window_s: float = 0.0  # window: seconds measured, from ramp_s + lead_s after the start
    lead_s: float = 0.0

    @property
    def shape(self) -> StreamShape:
        hold, answer = self.kind == "soak", self.family == "run"
        return StreamShape(self.frames, self.pace_ms, self.cumulative, hold=hold, answer=answer)

    @property
    def extra_frames(self) -> int:
        """Upstream frames per complete stream besides the message frames / content chunks."""
        return {"chat": REASONING_CHUNKS + 1, "run": 1}.get(self.family, 6)

    @property
    def offered_s(self) -> float | None:
        """Window: content chunks per second the upstream offers with every client's stream open
        (None at full speed: then it sends as fast as flow control lets it)."""
        return self.concurrency * 1000 / self.pace_ms if self.pace_ms > 0 else None

    @property
    def streams(self) -> int:
        return self.concurrency * self.streams_per_worker

    @property
    def window(self) -> int:
        """Long-message scenario: frames per CPU window. Incremental: 5,000 of 20,000 (the first and
        last quarter): another process's CPU clock advances in scheduler ticks here (4 ms) while it
        runs flat out, and 1,000 small frames cost 4-7 ms, so windows that short read a tick more or
        less at random. Cumulative: 1,000 (1/20), whose frames are large enough (hundreds of ms at the
        end) and whose per-byte check compares short frames with long ones."""
        return max(self.frames // (20 if self.cumulative else 4), 10)

    def spec(self, target: str, url: str) -> LoadSpec:
        """The load for `target` whose listening base URL is `url` (the engine's per-stream URLs and
        run body are set by the caller after its set-up)."""
        thread = self.shape.thread_id()
        if self.family == "run" and target in ENGINES:  # the assistant's id is set after the set-up
            body, endpoint = thread_run_body("asst_bench", thread), f"{url}/v1/threads/runs"
        elif self.family in ("chat", "run"):
            body, endpoint = chat_body(thread), f"{url}/v1/chat/completions"
        elif target == "direct":
            body = orjson.dumps(
                {"stream": 1, "thread_id": thread, "assistant_id": "asst_bench", "messages": []}
            )
            endpoint = f"{url}/v1/threads/run/create_stream"
        else:
            body, endpoint = RUN_BODY, f"{url}/v1/threads/{thread}/runs"
        return LoadSpec(
            url=endpoint,
            body=body,
            raw=target not in ("gateway", "baseline", *ENGINES),
            cumulative=self.cumulative,
            concurrency=self.concurrency,
            streams_per_worker=self.streams_per_worker,
            ramp_s=self.ramp_s,
            expect_tokens=0 if self.kind == "soak" else self.frames,
            hold_s=self.hold_s,
            trace_cpu=self.kind == "long",
            timeout_s=900.0,
            window_s=self.window_s,
            lead_s=self.lead_s,
        )


def warmup(family: str) -> Scenario:
    """A few short streams through a fresh process before it is measured."""
    return Scenario("warm", "", "load", 4, 10, streams_per_worker=5, family=family)


def warmup_spec(target: str, url: str, family: str = "assistants") -> LoadSpec:
    return replace(warmup(family).spec(target, url), timeout_s=60.0)


FULL = [
    Scenario("s1", "1 stream at a time, full speed, 200 frames each (100 streams)", "load", 1, 200, 0, 100),
    Scenario(
        "s32", "32 streams, full speed, 200 frames each (16 rounds: 512 streams)", "load", 32, 200, 0, 16
    ),
    Scenario(
        "p500x50", "500 streams opened within 2 s, 50 frames/s, 200 frames each", "load", 500, 200, 20, 1, 2
    ),
    Scenario(
        "p500x5", "500 streams opened within 2 s, 5 frames/s, 50 frames each", "load", 500, 50, 200, 1, 2
    ),
    Scenario("long_inc", "one 20,000-frame message, incremental dialect, full speed", "long", 1, 20_000),
    Scenario(
        "long_cum",
        "one 20,000-frame message, cumulative dialect, full speed",
        "long",
        1,
        20_000,
        cumulative=True,
    ),
    Scenario(
        "soak",
        "5,000 streams opened over 10 s, held idle 30 s",
        "soak",
        5000,
        0,
        0,
        1,
        10,
        hold_s=30,
        repeat=1,
    ),
]

CHAT = [
    Scenario(
        "chat_s1",
        "engine: 1 stream at a time, full speed, 200 chunks (100 streams)",
        "load",
        1,
        200,
        0,
        100,
        family="chat",
    ),
    Scenario(
        "chat_s32",
        "engine: 32 streams, full speed, 200 chunks (16 rounds: 512 streams)",
        "load",
        32,
        200,
        0,
        16,
        family="chat",
    ),
    Scenario(
        "chat_p500x5",
        "engine: 500 streams opened within 2 s, 5 chunks/s, 50 chunks each",
        "load",
        500,
        50,
        200,
        1,
        2,
        family="chat",
    ),
    Scenario("chat_long", "engine: one 20,000-chunk reply, full speed", "long", 1, 20_000, family="chat"),
    Scenario(
        "chat_soak",
        "engine: 5,000 streams opened over 10 s, held idle 30 s",
        "soak",
        5000,
        0,
        0,
        1,
        10,
        hold_s=30,
        repeat=1,
        family="chat",
    ),
    Scenario(
        "store",
        "engine store alone: CPU per run, create to completed, SQLite (5 rounds x 500 runs)",
        "store",
        1,
        500,
        rounds=5,
        repeat=1,
        family="store",
    ),
]
FULL += CHAT

RUN = [
    Scenario(
        "run_s32",
        "engine create-thread-and-run: 32 clients, full speed, 100 chunks per reply, each replaced as it "
        "ends; 13 s window after 1 s",
        "window",
        32,
        100,
        lead_s=1,
        window_s=13,
        family="run",
    ),
    Scenario(
        "run_p500x50",
        "engine create-thread-and-run: 500 clients started within 2 s, 50 chunks/s, 100 chunks per reply, "
        "each replaced as it ends; 13 s window after the ramp",
        "window",
        500,
        100,
        20,
        ramp_s=2,
        window_s=13,
        family="run",
    ),
    Scenario(
        "run_p500x5",
        "engine create-thread-and-run: 500 clients started within 2 s, 5 chunks/s, 100 chunks per reply "
        "(20 s), each replaced as it ends; 13 s window after the ramp",
        "window",
        500,
        100,
        200,
        ramp_s=2,
        window_s=13,
        family="run",
    ),
    Scenario(
        "run_start",
        "engine create-thread-and-run: 32 clients, full speed, 1 chunk per reply, each replaced as it "
        "ends; 13 s window after 1 s",
        "window",
        32,
        1,
        lead_s=1,
        window_s=13,
        family="run",
    ),
    Scenario(
        "run_p50x50",
        "engine create-thread-and-run: 50 clients started within 2 s, 50 chunks/s, 1000 chunks per reply "
        "(20 s), each replaced as it ends; 13 s window after the ramp",
        "window",
        50,
        1000,
        20,
        ramp_s=2,
        window_s=13,
        family="run",
    ),
]
FULL += RUN

QUICK = [
    replace(FULL[0], title="1 stream at a time, full speed, 200 frames (5 streams)", streams_per_worker=5),
    replace(
        FULL[1], title="8 streams, full speed, 50 frames each", concurrency=8, frames=50, streams_per_worker=1
    ),
    replace(
        FULL[2],
        title="20 streams within 0.5 s, 50 frames/s, 20 frames",
        concurrency=20,
        frames=20,
        ramp_s=0.5,
    ),
    replace(
        FULL[3], title="20 streams within 0.5 s, 5 frames/s, 5 frames", concurrency=20, frames=5, ramp_s=0.5
    ),
    replace(FULL[4], title="one 2,000-frame message, incremental", frames=2000),
    replace(FULL[5], title="one 2,000-frame message, cumulative", frames=2000),
    replace(FULL[6], title="200 streams opened over 1 s, held 2 s", concurrency=200, ramp_s=1, hold_s=2),
    replace(
        CHAT[0], title="engine: 1 stream at a time, full speed, 200 chunks (5 streams)", streams_per_worker=5
    ),
    replace(
        CHAT[1],
        title="engine: 8 streams, full speed, 50 chunks each",
        concurrency=8,
        frames=50,
        streams_per_worker=1,
    ),
    replace(
        CHAT[2],
        title="engine: 20 streams within 0.5 s, 5 chunks/s, 5 chunks",
        concurrency=20,
        frames=5,
        ramp_s=0.5,
    ),
    replace(CHAT[3], title="engine: one 2,000-chunk reply", frames=2000),
    replace(
        CHAT[4], title="engine: 200 streams opened over 1 s, held 2 s", concurrency=200, ramp_s=1, hold_s=2
    ),
    replace(CHAT[5], title="engine store alone: CPU per run (2 rounds x 100 runs)", frames=100, rounds=2),
    replace(
        RUN[0],
        title="engine create-thread-and-run: 8 clients, full speed, 20 chunks; 2 s window after 0.5 s",
        concurrency=8,
        frames=20,
        lead_s=0.5,
        window_s=2,
    ),
    replace(
        RUN[1],
        title="engine create-thread-and-run: 20 clients within 0.5 s, 50 chunks/s, 20 chunks; 2 s window",
        concurrency=20,
        frames=20,
        ramp_s=0.5,
        window_s=2,
    ),
    replace(
        RUN[2],
        title="engine create-thread-and-run: 20 clients within 0.5 s, 5 chunks/s, 20 chunks; 2 s window",
        concurrency=20,
        frames=20,
        ramp_s=0.5,
        window_s=2,
    ),
    replace(
        RUN[3],
        title="engine create-thread-and-run: 8 clients, full speed, 1 chunk; 2 s window after 0.5 s",
        concurrency=8,
        lead_s=0.5,
        window_s=2,
    ),
]
