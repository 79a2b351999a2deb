"""Runtime overhead of voiceframe vs pipecat-ai 1.14, side by side in one invocation.

    .venv/bin/python benchmarks/overhead.py [--quick] [--out results/overhead.json]

Every (workload, side) pair runs in a fresh subprocess so imports, GC state and leftover tasks of one
cannot disturb another. The whole set runs in several rounds; within a round the sides of each workload
alternate, and who goes first alternates between rounds. Every ratio is computed per round and reported
as the median and range over rounds, with the load average at each round's start and end. Prints one
JSON document (raw rounds, ratios, the design's bars) and writes it to ``--out`` if given; a summary
table goes to stderr. Method and results: ``docs/benchmarks.md``.
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
HEADLINE = ("voiceframe", "pipecat_bare")  # the fair pair the bars are judged on


@dataclass(frozen=True)
class Comparison:
    """A voiceframe configuration against a Pipecat one, on some workloads."""

    name: str
    voiceframe: str
    pipecat: str
    workloads: tuple[str, ...]
    what: str


COMPARISONS = (
    Comparison(
        "headline",
        "voiceframe",
        "pipecat_bare",
        ("throughput", "latency", "interruption", "memory"),
        "inline processors vs Pipecat's worker without RTVI and observers (queued processors)",
    ),
    Comparison(
        "pipecat_default",
        "voiceframe",
        "pipecat_default",
        ("throughput", "latency"),
        "inline processors vs Pipecat's worker as a user gets it (RTVI + three observers)",
    ),
    Comparison(
        "inline_vs_direct",
        "voiceframe",
        "pipecat_direct",
        ("throughput",),
        "like for like: inline processors vs Pipecat's direct mode (no queues on either side)",
    ),
    Comparison(
        "queued_vs_queued",
        "voiceframe_queued",
        "pipecat_bare",
        ("throughput",),
        "like for like: every passthrough has a task and queue of its own on both sides",
    ),
    Comparison(
        "one_observer",
        "voiceframe_observer",
        "pipecat_bare_observer",
        ("throughput",),
        "like for like: one no-op observer watching every push on both sides",
    ),
)


#: ``--baseline-tree DIR``: voiceframe from another checkout (e.g. the commit before a change) as a side
BASELINE_SIDE = "voiceframe_baseline"
_baseline_tree: Path | None = None
BASELINE_COMPARISONS = (
    Comparison(
        "baseline_tree",
        BASELINE_SIDE,
        "pipecat_bare",
        ("throughput", "latency", "interruption"),
        "the baseline checkout's inline processors vs Pipecat bare, in the same rounds",
    ),
    Comparison(
        "after_vs_baseline",
        "voiceframe",
        BASELINE_SIDE,
        ("throughput", "latency", "interruption"),
        "this checkout relative to the baseline checkout (1.0 = unchanged)",
    ),
)


def comparisons() -> tuple[Comparison, ...]:
    return COMPARISONS + (BASELINE_COMPARISONS if _baseline_tree is not None else ())


def sides_for(workload: str) -> list[str]:
    """Every side some comparison needs for ``workload``, voiceframe's and Pipecat's alternating."""
    vf: list[str] = []
    pc: list[str] = []
    for c in comparisons():
        if workload in c.workloads:
            if c.voiceframe not in vf:
                vf.append(c.voiceframe)
            if c.pipecat not in pc and c.pipecat not in vf:
                (vf if c.pipecat.startswith("voiceframe") else pc).append(c.pipecat)
    out: list[str] = []
    for i in range(max(len(vf), len(pc))):
        out.extend(x[i] for x in (vf, pc) if i < len(x))
    return out


@dataclass(frozen=True)
class Plan:
    """How much work each workload does; --quick shrinks counts, never frame sizes."""

    rounds: int = 5
    # (processors, frames per run): fewer frames at N=50 keep Pipecat's runs short; same on both sides
    throughput_sizes: tuple[tuple[int, int], ...] = ((1, 2000), (10, 2000), (50, 500))
    throughput_reps: int = 2
    latency_n: int = 10
    latency_frames: int = 100
    interruption_n: int = 50
    interruption_queued: int = 500
    interruption_reps: int = 3
    memory_sessions: int = 100
    memory_n: tuple[int, ...] = (10, 50)
    import_runs: int = 7


QUICK = Plan(
    rounds=3,
    throughput_sizes=((1, 1000), (10, 1000), (50, 250)),
    throughput_reps=1,
    latency_frames=50,
    interruption_reps=2,
    memory_sessions=50,
    import_runs=3,
)


# ------------------------------------------------------------------------------------------ child side


def _quiet_logs() -> None:
    # Both frameworks log through loguru; a benchmark should time frames, not log lines on stderr.
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


def _make_side(name: str, shared_runner: bool = False) -> Any:
    if name.startswith("voiceframe"):
        from side_voiceframe import VoiceframeSide

        mode = "queued" if "_queued" in name else "inline"
        return VoiceframeSide(mode, observer=name.endswith("_observer"))
    from side_pipecat import PipecatSide

    config = name.removeprefix("pipecat_").removesuffix("_observer")
    return PipecatSide(config, shared_runner=shared_runner, observer=name.endswith("_observer"))  # type: ignore[arg-type]


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
    env = dict(os.environ)
    if side == BASELINE_SIDE:
        assert _baseline_tree is not None
        env["PYTHONPATH"] = str(_baseline_tree)  # ahead of the editable install of this checkout
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
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


def _round_order(sides: list[str], round_index: int) -> list[str]:
    # alternate who goes first, so a drift in the machine's load favours neither framework
    return sides if round_index % 2 == 0 else list(reversed(sides))


def measure_round(plan: Plan, index: int) -> dict[str, Any]:
    """One round: every workload, each side in a fresh interpreter, sides alternating."""
    print(f"round {index + 1}/{plan.rounds}", file=sys.stderr, flush=True)
    load_start = os.getloadavg()
    results: dict[str, Any] = {"throughput": {}, "latency": {}, "interruption": {}, "memory": {}}
    for side in _round_order(sides_for("throughput"), index):
        results["throughput"][side] = spawn(
            "throughput",
            side,
            {"sizes": [list(x) for x in plan.throughput_sizes], "reps": plan.throughput_reps},
        )
    for side in _round_order(sides_for("latency"), index):
        results["latency"][side] = spawn(
            "latency", side, {"n": plan.latency_n, "frames": plan.latency_frames}
        )
    for side in _round_order(sides_for("interruption"), index):
        results["interruption"][side] = spawn(
            "interruption",
            side,
            {"n": plan.interruption_n, "queued": plan.interruption_queued, "reps": plan.interruption_reps},
        )
    for side in _round_order(sides_for("memory"), index):
        results["memory"][side] = {
            "tracemalloc": spawn(
                "memory",
                side,
                {"ns": list(plan.memory_n), "sessions": plan.memory_sessions, "method": "tracemalloc"},
            )
        }
    results["load_average"] = {
        "start": [round(x, 2) for x in load_start],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    return results


def measure_all(plan: Plan) -> dict[str, Any]:
    rounds = [measure_round(plan, i) for i in range(plan.rounds)]
    return {"rounds": rounds, "import": measure_imports(plan)}


# --------------------------------------------------------------------------------------- ratios, bars


def spread(values: list[float]) -> dict[str, Any]:
    """Median and range of per-round values (never the best run alone)."""
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "per_round": [round(v, 4) for v in values],
    }


def _round_ratios(r: dict[str, Any], c: Comparison, plan: Plan) -> dict[str, float]:
    """voiceframe relative to Pipecat in one round (> 1 means voiceframe is better)."""
    vf, pc = c.voiceframe, c.pipecat
    out: dict[str, float] = {}
    if "throughput" in c.workloads:
        for n, _ in plan.throughput_sizes:
            for k in ("input", "output"):
                out[f"throughput.n{n}.{k}"] = (
                    r["throughput"][vf][str(n)][k]["median"] / r["throughput"][pc][str(n)][k]["median"]
                )
    if "latency" in c.workloads:
        for k in ("input", "output"):
            out[f"hop_latency.{k}"] = r["latency"][pc][k]["median_us"] / r["latency"][vf][k]["median_us"]
    if "interruption" in c.workloads:
        for m in ("from_task", "broadcast_from_first"):
            out[f"interruption.{m}"] = (
                r["interruption"][pc][m]["reach_all_ms"]["median"]
                / r["interruption"][vf][m]["reach_all_ms"]["median"]
            )
    if "memory" in c.workloads:
        for n in plan.memory_n:
            out[f"memory.n{n}"] = (
                r["memory"][pc]["tracemalloc"][str(n)]["per_session_bytes"]
                / r["memory"][vf]["tracemalloc"][str(n)]["per_session_bytes"]
            )
    return out


def ratios(results: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Per comparison and metric: the median and range over rounds of the per-round ratio."""
    out: dict[str, Any] = {}
    for c in comparisons():
        per_round = [_round_ratios(r, c, plan) for r in results["rounds"]]
        out[c.name] = {
            "voiceframe": c.voiceframe,
            "pipecat": c.pipecat,
            "what": c.what,
            "ratios": {m: spread([pr[m] for pr in per_round]) for m in per_round[0]},
        }
    imp = results["import"]
    out["import"] = {
        "pipecat_worker_over_voiceframe_task": round(
            imp["pipecat"]["pipecat.pipeline.worker"]["median_s"]
            / imp["voiceframe"]["voiceframe.task"]["median_s"],
            2,
        )
    }
    return out


def per_side(results: dict[str, Any], workload: str, side: str, get: Any) -> dict[str, Any]:
    """A raw number of one side, as median and range over rounds."""
    return spread([get(r[workload][side]) for r in results["rounds"] if side in r[workload]])


def _bar(name: str, value: float, target: str, passed: bool, **detail: Any) -> dict[str, Any]:
    return {"bar": name, "value": round(value, 4), "target": target, "pass": passed, **detail}


def bars(results: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    vf = HEADLINE[0]
    head = ratios(results, plan)["headline"]["ratios"]
    out: list[dict[str, Any]] = []
    kinds = {"input": "InputAudioRawFrame (system)", "output": "OutputAudioRawFrame (data)"}
    for k, label in kinds.items():
        s = head[f"throughput.n10.{k}"]
        out.append(
            _bar(
                f"throughput N=10, {label}: x pipecat",
                s["median"],
                ">= 5",
                s["median"] >= 5,
                range=[s["min"], s["max"]],
            )
        )
    for k, label in kinds.items():
        s = head[f"hop_latency.{k}"]
        frac = 1 / s["median"]
        out.append(
            _bar(
                f"hop latency median N=10, {label}: fraction of pipecat",
                frac,
                "<= 0.333",
                frac <= 1 / 3,
                range=[round(1 / s["max"], 4), round(1 / s["min"], 4)],
            )
        )
    for mode in ("from_task", "broadcast_from_first"):
        ms = per_side(results, "interruption", vf, lambda x, m=mode: x[m]["reach_all_ms"]["median"])
        played = max(r["interruption"][vf][mode]["played_after_max"] for r in results["rounds"])
        handled = min(r["interruption"][vf][mode]["processors_handled_min"] for r in results["rounds"])
        ok = ms["median"] <= 0.5 and played == 0 and handled == plan.interruption_n
        out.append(
            _bar(
                f"interruption N=50 ({mode}): ms to reach all",
                ms["median"],
                "<= 0.5 ms, 0 played after",
                ok,
                range=[ms["min"], ms["max"]],
                played_after_max=played,
            )
        )
    s = head["memory.n10"]
    frac = 1 / s["median"]
    out.append(_bar("memory per idle session N=10: fraction of pipecat", frac, "<= 0.25", frac <= 0.25))
    last = results["rounds"][-1]["memory"][vf]["tracemalloc"]
    t10, t50 = last["10"]["tasks_per_session"], last["50"]["tasks_per_session"]
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
    imp = results["import"]["voiceframe"]["voiceframe.task"]["median_s"]
    out.append(
        _bar(
            "import voiceframe (core runtime: voiceframe.task) seconds",
            imp,
            "<= 0.1",
            imp <= 0.1,
            bare_package_s=results["import"]["voiceframe"]["voiceframe"]["median_s"],
            asyncio_alone_s=results["import"]["stdlib"]["asyncio"]["median_s"],
            pipecat_worker_s=results["import"]["pipecat"]["pipecat.pipeline.worker"]["median_s"],
        )
    )
    return out


def summary_table(doc: dict[str, Any]) -> str:
    """The ratios as a short text table for the terminal (stderr)."""
    lines = [f"{'comparison':<18} {'metric':<32} {'median':>8}  range"]
    for name, c in doc["ratios"].items():
        if name == "import":
            continue
        for metric, s in c["ratios"].items():
            lines.append(f"{name:<18} {metric:<32} {s['median']:>7.2f}x  {s['min']:.2f}-{s['max']:.2f}")
    return "\n".join(lines)


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
    parser.add_argument("--rounds", type=int, help="rounds (default 5, --quick 3)")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="also measure voiceframe from this checkout (e.g. a git worktree of the commit before a change)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        run_child(ns.child)
        return
    global _baseline_tree
    _baseline_tree = ns.baseline_tree.resolve() if ns.baseline_tree else None
    plan = QUICK if ns.quick else Plan()
    if ns.rounds:
        from dataclasses import replace

        plan = replace(plan, rounds=ns.rounds)
    started = time.perf_counter()
    results = measure_all(plan)
    doc = {
        "environment": environment(),
        "plan": asdict(plan),
        "baseline_tree": str(_baseline_tree) if _baseline_tree else None,
        "results": results,
        "ratios": ratios(results, plan),
        "bars": bars(results, plan),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(doc, indent=2)
    print(summary_table(doc), file=sys.stderr)
    print(text)
    if ns.out:
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
