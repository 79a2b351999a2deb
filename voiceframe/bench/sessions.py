"""``sessions``: how many concurrent sessions of the offline demo bot one process carries.

N sessions (N = 1, 2, 4, 8, ...) run at once in one event loop on the real clock, each on its own WAV
file (file transport: a bounded, in-process load), starts staggered over one turn so the users do not
all speak in the same 20 ms. The capacity is the largest N whose p95 voice-to-voice turn latency stays
within 10 % of N = 1's. The ramp stops at the first miss (then bisects between the last good level
and the miss while time allows) or when the time cap is reached.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from voiceframe.bench.common import Run
from voiceframe.bench.harness import SessionRun, make_user_wav, run_session
from voiceframe.bench.results import BenchResult, metric
from voiceframe.bench.stages import split
from voiceframe.bench.stats import percentile

RISE = 0.10
PAUSE, GAP = 1.0, 7.5


async def _level(wavs: list[Path], out: Path) -> list[SessionRun]:
    return list(await asyncio.gather(*(run_session(w, out / f"{i}.wav") for i, w in enumerate(wavs))))


def _staggered(base: Path, n: int, d: Path, period: float) -> list[Path]:
    """``n`` copies of ``base`` with 0..period seconds of silence in front, evenly spread."""
    from voiceframe.transports.file import read_wav, write_wav

    pcm, rate, _ = read_wav(base)
    paths = []
    for i in range(n):
        p = d / f"user-{n}-{i}.wav"
        write_wav(p, bytes(2 * int(rate * period * i / n)) + pcm, rate)
        paths.append(p)
    return paths


def run(quick: bool, progress: Progress, *, cap_s: float | None = None, max_n: int = 256) -> BenchResult:
    turns = 2
    cap = cap_s if cap_s is not None else (120.0 if quick else 300.0)
    step = 4 if quick else 2  # N grows by this factor per level
    r = Run(
        "sessions",
        quick,
        {"turns_per_session": turns, "rise_allowed": RISE, "time_cap_s": cap, "max_n": max_n},
    )
    levels: list[dict[str, Any]] = []
    started = time.perf_counter()
    task = progress.add_task("sessions: N=1", total=None)
    with tempfile.TemporaryDirectory(prefix="vf-bench-") as tmp:
        d = Path(tmp)
        base = d / "user.wav"
        # no tool calls: every turn costs the same, so p95 moves with load, not with the phrase mix
        make_user_wav(base, turns, pause=PAUSE, gap=GAP, phrases=["hello", "good morning"])

        def measure(n: int) -> tuple[bool, float]:
            progress.update(task, description=f"sessions: N={n}")
            row = _measure_level(
                r, n, _staggered(base, n, d, PAUSE + 2.0), d, levels[0]["p95_s"] if levels else None
            )
            levels.append(row)
            progress.advance(task)
            return bool(row["within"]), float(row["wall_s"])

        def time_left(wall: float) -> bool:
            return time.perf_counter() - started + 1.2 * wall < cap

        capacity, n, fail = 0, 1, 0
        while n <= max_n:
            ok, wall = measure(n)
            if not ok:
                fail = n
                break
            capacity = n
            if not time_left(2 * wall):
                r.notes.append(f"time cap {cap:.0f} s reached after N={n}; capacity is at least {n}")
                break
            n *= step
        # between the last good level and the first miss, bisect while there is time (to within 25 %)
        while fail and fail - capacity > max(1, capacity // 4) and time_left(wall):
            mid = (capacity + fail) // 2
            ok, wall = measure(mid)
            capacity, fail = (mid, fail) if ok else (capacity, mid)
    r.tables["levels"] = levels
    r.metrics.append(metric("capacity_sessions", "sessions", [float(capacity)], better="higher"))
    r.bar(
        "concurrent sessions within +10% p95 turn latency", float(capacity), ">= 1 (reported)", capacity >= 1
    )
    r.notes.append("all sessions share one process and one event loop; other processes share the CPUs")
    return r.finish(("voiceframe-pocketsphinx", "voiceframe-espeak"))


def _measure_level(r: Run, n: int, wavs: list[Path], d: Path, baseline: float | None) -> dict[str, Any]:
    """Run ``n`` sessions at once; adds the level's metrics to ``r`` and returns its table row."""
    proc = _process()
    cpu0 = sum(proc.cpu_times()[:2]) if proc else 0.0
    t0 = time.perf_counter()
    runs = asyncio.run(_level(wavs, d))
    wall = time.perf_counter() - t0
    splits = [split(t) for s in runs for t in s.timelines]
    totals = [s.total for s in splits] or [float("inf")]
    p95 = percentile(totals, 95)
    base = baseline if baseline is not None else p95
    group = f"N={n}"
    if splits:
        r.metrics.append(metric(f"n{n}.total", "s", totals, group=group))
        r.metrics.append(
            metric(f"n{n}.llm_first_token", "s", [s.llm_first_token for s in splits], group=group)
        )
        r.metrics.append(
            metric(f"n{n}.framework_added", "s", [s.framework_added for s in splits], group=group)
        )
    return {
        "sessions": n,
        "turns": len(splits),
        "unanswered": sum(s.unanswered for s in runs),
        "p50_s": round(percentile(totals, 50), 4) if splits else None,
        "p95_s": round(p95, 4) if splits else None,
        "rise": round(p95 / base - 1, 4) if splits else None,
        "within": bool(splits) and p95 <= base * (1 + RISE),
        "process_cpu_cores": round((sum(proc.cpu_times()[:2]) - cpu0) / wall, 2) if proc else None,
        "rss_mb": round(proc.memory_info().rss / 2**20) if proc else None,
        "wall_s": round(wall, 1),
        "errors": sum(len(s.errors) for s in runs),
    }


def _process() -> Any:
    try:
        import psutil  # type: ignore[import-untyped]

        return psutil.Process()
    except ImportError:
        return None
