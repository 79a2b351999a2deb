"""The workloads, written once against a small adapter so both frameworks run the very same procedure.

Each framework provides a :class:`Side` (see ``side_voiceframe.py`` and ``side_pipecat.py``). A side builds
a session of ``n`` processors followed by a *tail* and reports what happens through :class:`Hooks`:
frames reaching the tail, processors handling an interruption, audio chunks being "played". Every
timestamp is ``time.perf_counter()`` taken inside the processors, so the two sides are timed alike.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

FrameKind = Literal["input", "output"]
TailKind = Literal["recorder", "player"]

AUDIO_BYTES = 640  # 20 ms of 16 kHz mono int16
SAMPLE_RATE = 16000
PLAY_SECONDS = 0.02  # the player "plays" one 20 ms chunk per frame


class Hooks:
    """Collects what the processors report; all times are perf_counter seconds."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reset()

    def reset(self, expected: int = 0) -> None:
        self.expected = expected
        self.count = 0
        self.last_arrival = 0.0
        self.arrivals: dict[int, float] = {}
        self.keep_arrivals = False
        self.interrupted: dict[int, float] = {}
        self.forwarded: list[int] = [0] * (self.n + 1)
        self.played: list[float] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def arrived(self, frame: object) -> None:
        """An audio frame reached the tail."""
        t = time.perf_counter()
        self.count += 1
        self.last_arrival = t
        if self.keep_arrivals:
            self.arrivals[id(frame)] = t
        if self.count == self.expected and not self.done.done():
            self.done.set_result(None)

    def interruption(self, index: int) -> None:
        """Processor ``index`` handled the interruption (only the first time counts)."""
        self.interrupted.setdefault(index, time.perf_counter())

    def forward(self, index: int) -> None:
        """Processor ``index`` pushed an audio frame on (used to know when the tail has them all)."""
        self.forwarded[index] += 1

    def play(self) -> None:
        """The player started writing one audio chunk."""
        self.played.append(time.perf_counter())


class Session(Protocol):
    hooks: Hooks

    async def queue(self, frame: Any) -> None: ...

    async def interrupt_from_task(self) -> None: ...

    async def broadcast_from_first(self) -> None: ...

    async def close(self) -> None: ...


class Side(Protocol):
    name: str

    def make_frame(self, kind: FrameKind) -> Any: ...

    async def open(self, n: int, tail: TailKind, hooks: Hooks, *, record_interruptions: bool) -> Session: ...

    def import_targets(self) -> list[str]: ...


def summary(values: list[float]) -> dict[str, float]:
    """Median plus spread, so a reader sees how stable a number is."""
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "runs": len(ordered),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll (1 ms) because neither framework offers a common "it happened" signal we could share."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


# -------------------------------------------------------------------------------------- (a) throughput


async def _throughput_round(side: Side, session: Session, kind: FrameKind, k: int) -> float:
    # frames are built before the clock starts: we time the framework, not dataclass construction
    frames = [side.make_frame(kind) for _ in range(k)]
    session.hooks.reset(expected=k)
    gc.collect()
    start = time.perf_counter()
    for f in frames:
        await session.queue(f)
    await asyncio.wait_for(session.hooks.done, 120)
    return k / (session.hooks.last_arrival - start)


async def throughput(side: Side, n: int, kinds: list[FrameKind], k: int, reps: int) -> dict[str, Any]:
    """Frames/s from queueing ``k`` frames until the last reaches the tail; one session per ``n``."""
    hooks = Hooks(n)
    session = await side.open(n, "recorder", hooks, record_interruptions=False)
    out: dict[str, Any] = {}
    try:
        for kind in kinds:
            await _throughput_round(side, session, kind, max(k // 10, 50))  # warm-up
        runs: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(reps):  # kinds interleaved so slow drift hits both alike
            for kind in kinds:
                runs[kind].append(await _throughput_round(side, session, kind, k))
        for kind in kinds:
            out[kind] = summary(runs[kind])
    finally:
        await session.close()
    return out


# ----------------------------------------------------------------------------------------- (b) latency


async def latency(side: Side, n: int, kind: FrameKind, count: int, interval: float) -> dict[str, Any]:
    """One frame per ``interval`` on the real clock; time from queue to arrival at the tail."""
    hooks = Hooks(n)
    session = await side.open(n, "recorder", hooks, record_interruptions=False)
    warmup = 10
    try:
        hooks.reset(expected=count + warmup)
        hooks.keep_arrivals = True
        sent: list[tuple[Any, float]] = []
        next_tick = time.perf_counter()
        for _ in range(count + warmup):
            frame = side.make_frame(kind)
            sent.append((frame, time.perf_counter()))
            await session.queue(frame)
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
        await asyncio.wait_for(hooks.done, 10)
        micros = [(hooks.arrivals[id(f)] - t) * 1e6 for f, t in sent[warmup:]]
    finally:
        await session.close()
    return {
        "median_us": statistics.median(micros),
        "p99_us": percentile(micros, 0.99),
        "mean_us": statistics.fmean(micros),
        "frames": len(micros),
    }


# ------------------------------------------------------------------------------------ (c) interruption


@dataclass
class InterruptionRun:
    reach_all_ms: float
    played_after: int
    played_before: int
    handled: int


async def _interruption_round(
    side: Side, n: int, queued: int, trigger: Callable[[Session], Awaitable[None]]
) -> InterruptionRun:
    hooks = Hooks(n)
    # n processors in all: n - 1 passthroughs and the player as the n-th
    session = await side.open(n - 1, "player", hooks, record_interruptions=True)
    try:
        for _ in range(queued):
            await session.queue(side.make_frame("output"))
        # interrupt only once every chunk has passed the last passthrough (so all wait at the player)
        # and the player is busy: the case where stale audio could still slip out
        await wait_until(lambda: hooks.forwarded[n - 2] >= queued and len(hooks.played) >= 3, 30, "player")
        gc.collect()
        start = time.perf_counter()
        await trigger(session)
        await wait_until(lambda: len(hooks.interrupted) >= n, 5, "interruption to reach every processor")
        await asyncio.sleep(5 * PLAY_SECONDS)  # room for any stale chunk to be played
        last = max(hooks.interrupted.values())
        after = sum(1 for t in hooks.played if t > start)
        return InterruptionRun((last - start) * 1e3, after, len(hooks.played) - after, len(hooks.interrupted))
    finally:
        await session.close()


async def interruption(side: Side, n: int, queued: int, reps: int) -> dict[str, Any]:
    """Time until all ``n`` processors handled an interruption, and chunks played after it."""
    modes: dict[str, Callable[[Session], Awaitable[None]]] = {
        "from_task": lambda s: s.interrupt_from_task(),
        "broadcast_from_first": lambda s: s.broadcast_from_first(),
    }
    out: dict[str, Any] = {}
    for mode, trigger in modes.items():
        await _interruption_round(side, n, min(queued, 50), trigger)  # warm-up
        runs = [await _interruption_round(side, n, queued, trigger) for _ in range(reps)]
        out[mode] = {
            "reach_all_ms": summary([r.reach_all_ms for r in runs]),
            "played_after_max": max(r.played_after for r in runs),
            "processors_handled_min": min(r.handled for r in runs),
        }
    return out


# ------------------------------------------------------------------------------------------ (d) memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class MemoryRun:
    per_session_bytes: float
    tasks_per_session: float
    method: str


async def memory(side: Side, n: int, sessions: int, method: Literal["tracemalloc", "rss"]) -> MemoryRun:
    """Per-session memory and asyncio tasks of ``sessions`` idle, started sessions of ``n`` processors."""
    # one session first, so lazily imported modules and caches are not counted as per-session cost
    warm = await side.open(n, "recorder", Hooks(n), record_interruptions=False)
    await warm.close()
    await asyncio.sleep(0.05)
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    if method == "tracemalloc":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    else:
        base = _rss_bytes()
    opened = [await side.open(n, "recorder", Hooks(n), record_interruptions=False) for _ in range(sessions)]
    await asyncio.sleep(0.2)  # let every session settle into its idle state
    gc.collect()
    used = (tracemalloc.get_traced_memory()[0] if method == "tracemalloc" else _rss_bytes()) - base
    tasks = len(asyncio.all_tasks()) - tasks_before
    if method == "tracemalloc":
        tracemalloc.stop()
    await asyncio.gather(*(s.close() for s in opened))  # concurrently: only to keep the run short
    return MemoryRun(used / sessions, tasks / sessions, method)
