"""Runtime overhead of voiceframe vs pipecat-ai 1.14, side by side in one invocation.

    .venv/bin/python benchmarks/overhead.py [--quick] [--out results/overhead.json]

Every (workload, side) pair runs in a fresh subprocess so imports, GC state and leftover tasks of one
cannot disturb another. Prints one JSON document (both sides, ratios, and the design's bars) and writes
it to ``--out`` if given. Method and results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIDES = ("voiceframe", "pipecat_bare", "pipecat_default")
BASELINE = "pipecat_bare"  # bars are judged against the fair configuration; default is reported too


@dataclass(frozen=True)
class Plan:
    """How much work each workload does; --quick shrinks counts, never frame sizes."""

    # (processors, frames per run): fewer frames at N=50 keep Pipecat's runs short; same on both sides
    throughput_sizes: tuple[tuple[int, int], ...] = ((1, 2000), (10, 2000), (50, 500))
    throughput_reps: int = 4
    latency_n: int = 10
    latency_frames: int = 200
    interruption_n: int = 50
    interruption_queued: int = 500
    interruption_reps: int = 5
    memory_sessions: int = 100
    memory_n: tuple[int, ...] = (10, 50)
    import_runs: int = 7


QUICK = Plan(
    throughput_sizes=((1, 1000), (10, 1000), (50, 250)),
    throughput_reps=3,
    latency_frames=60,
    interruption_reps=3,
    import_runs=3,
)


# ------------------------------------------------------------------------------------------ child side


def _quiet_logs() -> None:
    # Both frameworks log through loguru; a benchmark should time frames, not log lines on stderr.
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def _make_side(name: str, shared_runner: bool = False) -> Any:
    if name == "voiceframe":
        from side_voiceframe import VoiceframeSide

        return VoiceframeSide()
    from side_pipecat import PipecatSide

    return PipecatSide("bare" if name == "pipecat_bare" else "default", shared_runner=shared_runner)


async def _child_main(spec: dict[str, Any]) -> Any:
    import workloads as w

    side = _make_side(spec["side"], spec.get("shared_runner", False))
    a = spec["args"]
    kind = spec["workload"]
    if kind == "throughput":
        return {str(n): await w.throughput(side, n, ["input", "output"], k, a["reps"]) for n, k in a["sizes"]}
    if kind == "latency":
        return {k: await w.latency(side, a["n"], k, a["frames"], 0.02) for k in ("input", "output")}
    if kind == "interruption":
        return await w.interruption(side, a["n"], a["queued"], a["reps"])
    if kind == "memory":
        return {str(n): asdict(await w.memory(side, n, a["sessions"], a["method"])) for n in a["ns"]}
    raise ValueError(f"unknown workload {kind!r}")


def run_child(raw: str) -> None:
    _quiet_logs()
    result = asyncio.run(_child_main(json.loads(raw)))
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------- parent side


def spawn(workload: str, side: str, args: dict[str, Any], **extra: Any) -> Any:
    """Run one (workload, side) pair in a fresh interpreter; its last stdout line is its JSON result."""
    spec = json.dumps({"workload": workload, "side": side, "args": args, **extra})
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{workload}/{side} failed:\n{proc.stderr[-4000:]}")
    took = time.perf_counter() - started
    print(f"  {workload:<12} {side:<16} {took:5.1f} s {extra or ''}", file=sys.stderr, flush=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _import_seconds(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter (interpreter start-up excluded)."""
    code = (
        f"import time, sys\nt = time.perf_counter()\nimport {module}\n"
        "sys.stdout.write(repr(time.perf_counter() - t))\n"
    )
    # cwd=/ so nothing local shadows the installed packages
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    return float(out.stdout)


IMPORT_TARGETS = {
    "voiceframe": ["voiceframe", "voiceframe.task"],
    "pipecat": ["pipecat.pipeline.pipeline", "pipecat.pipeline.worker"],
    # what any asyncio framework pays before its own code: shows each side's own share
    "stdlib": ["asyncio"],
}


def measure_imports(plan: Plan) -> dict[str, Any]:
    print("  import       all sides, interleaved", file=sys.stderr, flush=True)
    samples: dict[str, list[float]] = {m: [] for ms in IMPORT_TARGETS.values() for m in ms}
    for i in range(plan.import_runs + 1):
        # round-robin, so a burst of load on the machine hits every module alike; round 0 warms the file cache
        for module, got in samples.items():
            t = _import_seconds(module)
            if i:
                got.append(t)
    return {
        side: {
            m: {"median_s": statistics.median(samples[m]), "min_s": min(samples[m]), "runs": plan.import_runs}
            for m in modules
        }
        for side, modules in IMPORT_TARGETS.items()
    }


def measure_memory(side: str, plan: Plan) -> dict[str, Any]:
    """tracemalloc for every N; RSS and a shared Pipecat runner only where they inform the bar (time)."""
    small = [plan.memory_n[0]]
    ns = list(plan.memory_n) if side != "pipecat_default" else small
    out = {
        "tracemalloc": spawn(
            "memory", side, {"ns": ns, "sessions": plan.memory_sessions, "method": "tracemalloc"}
        )
    }
    if side == "pipecat_default":
        return out
    # RSS as a cross-check of tracemalloc (includes allocator slack); one N per fresh process
    out["rss"] = spawn("memory", side, {"ns": small, "sessions": plan.memory_sessions, "method": "rss"})
    if side == "pipecat_bare":
        # a long-lived host may put every session's worker on one shared runner: cheaper for Pipecat
        out["tracemalloc_shared_runner"] = spawn(
            "memory",
            side,
            {"ns": small, "sessions": plan.memory_sessions, "method": "tracemalloc"},
            shared_runner=True,
        )
    return out


def measure_all(plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {"throughput": {}, "latency": {}, "interruption": {}, "memory": {}}
    for side in SIDES:
        results["throughput"][side] = spawn(
            "throughput",
            side,
            {"sizes": [list(x) for x in plan.throughput_sizes], "reps": plan.throughput_reps},
        )
        results["latency"][side] = spawn(
            "latency", side, {"n": plan.latency_n, "frames": plan.latency_frames}
        )
        results["interruption"][side] = spawn(
            "interruption",
            side,
            {"n": plan.interruption_n, "queued": plan.interruption_queued, "reps": plan.interruption_reps},
        )
        results["memory"][side] = measure_memory(side, plan)
    results["import"] = measure_imports(plan)
    return results


# --------------------------------------------------------------------------------------- ratios, bars


def ratios(r: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """voiceframe relative to each Pipecat configuration (>1 means voiceframe is better)."""
    out: dict[str, Any] = {}
    vf = "voiceframe"
    for base in SIDES[1:]:
        tp = {
            f"n{n}_{k}": r["throughput"][vf][str(n)][k]["median"] / r["throughput"][base][str(n)][k]["median"]
            for n, _ in plan.throughput_sizes
            for k in ("input", "output")
        }
        lat = {
            k: r["latency"][base][k]["median_us"] / r["latency"][vf][k]["median_us"]
            for k in ("input", "output")
        }
        intr = {
            m: r["interruption"][base][m]["reach_all_ms"]["median"]
            / r["interruption"][vf][m]["reach_all_ms"]["median"]
            for m in ("from_task", "broadcast_from_first")
        }
        mem = {
            str(n): r["memory"][base]["tracemalloc"][str(n)]["per_session_bytes"]
            / r["memory"][vf]["tracemalloc"][str(n)]["per_session_bytes"]
            for n in plan.memory_n
            if str(n) in r["memory"][base]["tracemalloc"]
        }
        out[f"vs_{base}"] = {
            "throughput_speedup": tp,
            "latency_median_speedup": lat,
            "interruption_speedup": intr,
            "memory_per_session_smaller_by": mem,
        }
    return out


def _bar(name: str, value: float, target: str, passed: bool, **detail: Any) -> dict[str, Any]:
    return {"bar": name, "value": round(value, 4), "target": target, "pass": passed, **detail}


def bars(r: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    vf, base = "voiceframe", BASELINE
    out: list[dict[str, Any]] = []
    kinds = {"input": "InputAudioRawFrame (system)", "output": "OutputAudioRawFrame (data)"}
    for k, label in kinds.items():
        ratio = r["throughput"][vf]["10"][k]["median"] / r["throughput"][base]["10"][k]["median"]
        out.append(_bar(f"throughput N=10, {label}: x pipecat", ratio, ">= 5", ratio >= 5))
    for k, label in kinds.items():
        frac = r["latency"][vf][k]["median_us"] / r["latency"][base][k]["median_us"]
        out.append(
            _bar(f"hop latency median N=10, {label}: fraction of pipecat", frac, "<= 0.333", frac <= 1 / 3)
        )
    for mode in ("from_task", "broadcast_from_first"):
        res = r["interruption"][vf][mode]
        ms = res["reach_all_ms"]["median"]
        ok = (
            ms <= 0.5
            and res["played_after_max"] == 0
            and res["processors_handled_min"] == plan.interruption_n
        )
        out.append(
            _bar(
                f"interruption N=50 ({mode}): ms to reach all",
                ms,
                "<= 0.5 ms, 0 played after",
                ok,
                played_after_max=res["played_after_max"],
            )
        )
    mem_vf = r["memory"][vf]["tracemalloc"]
    mem_pc = r["memory"][base]["tracemalloc"]
    frac = mem_vf["10"]["per_session_bytes"] / mem_pc["10"]["per_session_bytes"]
    out.append(_bar("memory per idle session N=10: fraction of pipecat", frac, "<= 0.25", frac <= 0.25))
    t10, t50 = mem_vf["10"]["tasks_per_session"], mem_vf["50"]["tasks_per_session"]
    out.append(
        _bar(
            "tasks per session N=50 minus N=10",
            t50 - t10,
            "== 0 (no growth with N)",
            t50 <= t10,
            n10=t10,
            n50=t50,
        )
    )
    imp = r["import"]["voiceframe"]["voiceframe.task"]["median_s"]
    out.append(
        _bar(
            "import voiceframe (core runtime: voiceframe.task) seconds",
            imp,
            "<= 0.1",
            imp <= 0.1,
            bare_package_s=r["import"]["voiceframe"]["voiceframe"]["median_s"],
            asyncio_alone_s=r["import"]["stdlib"]["asyncio"]["median_s"],
            pipecat_worker_s=r["import"]["pipecat"]["pipecat.pipeline.worker"]["median_s"],
        )
    )
    return out


def _git_state() -> str:
    """Commit of the tree measured, and whether it had uncommitted changes (the core moves fast)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../voiceframe"], cwd=HERE, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+uncommitted voiceframe/ changes" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "voiceframe_git": _git_state(),
        "voiceframe": version("voiceframe"),
        "pipecat-ai": version("pipecat-ai"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and runs (about a minute)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        run_child(ns.child)
        return
    plan = QUICK if ns.quick else Plan()
    started = time.perf_counter()
    results = measure_all(plan)
    doc = {
        "environment": environment(),
        "plan": asdict(plan),
        "results": results,
        "ratios": ratios(results, plan),
        "bars": bars(results, plan),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if ns.out:
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
