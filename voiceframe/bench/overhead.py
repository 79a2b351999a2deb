"""``overhead``: the core runtime's workloads, voiceframe vs pipecat-ai side by side.

Wraps ``benchmarks/overhead.py`` (every (workload, side) pair in a fresh interpreter, several
interleaved rounds; method in ``docs/benchmarks.md``). Each metric holds one value per round, and every
same-round ratio against Pipecat is a metric too (``ratio.<comparison>.<metric>``); the script's whole
document is kept under ``raw``.
"""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from voiceframe.bench.common import Run
from voiceframe.bench.results import BenchResult, metric
from voiceframe.bench.subproc import run_script

KINDS = ("input", "output")


def _collect(rounds: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[float]]:
    """(side, metric, unit) -> one value per round."""
    values: dict[tuple[str, str, str], list[float]] = {}

    def add(side: str, name: str, unit: str, value: float) -> None:
        values.setdefault((side, name, unit), []).append(value)

    for res in rounds:
        for side, by_n in res["throughput"].items():
            for n, by_kind in by_n.items():
                for k in KINDS:
                    add(side, f"throughput.n{n}.{k}", "frames/s", by_kind[k]["median"])
        for side, by_kind in res["latency"].items():
            for k in KINDS:
                add(side, f"hop_latency.{k}.median", "us", by_kind[k]["median_us"])
                add(side, f"hop_latency.{k}.p99", "us", by_kind[k]["p99_us"])
        for side, modes in res["interruption"].items():
            for mode, v in modes.items():
                add(side, f"interruption.{mode}", "ms", v["reach_all_ms"]["median"])
        for side, mem in res["memory"].items():
            for n, v in mem.get("tracemalloc", {}).items():
                add(side, f"memory.n{n}.per_session", "bytes", v["per_session_bytes"])
                add(side, f"memory.n{n}.tasks", "count", v["tasks_per_session"])
    return values


def _metrics(r: Run, doc: dict[str, Any]) -> None:
    for (side, name, unit), vals in _collect(doc["results"]["rounds"]).items():
        if name.startswith("throughput"):
            r.metrics.append(metric(f"{side}.{name}", unit, vals, better="higher", group=side))
        else:
            r.metrics.append(metric(f"{side}.{name}", unit, vals, group=side))
    for side, modules in doc["results"]["import"].items():
        for module, v in modules.items():
            r.metrics.append(metric(f"{side}.import.{module}", "s", [v["median_s"]], group=side))
    for name, c in doc.get("ratios", {}).items():
        for m, spread in c.get("ratios", {}).items():
            r.metrics.append(
                metric(f"ratio.{name}.{m}", "x", spread["per_round"], better="higher", group="ratios")
            )


def run(quick: bool, progress: Progress) -> BenchResult:
    r = Run("overhead", quick, {"script": "benchmarks/overhead.py", "quick": quick})
    # rounds x (7 throughput + 3 latency + 2 interruption + 2 memory sides) + imports
    rounds = 3 if quick else 5
    task = progress.add_task("overhead", total=rounds * 15 + 1)
    doc = run_script("overhead.py", ["--quick"] if quick else [], progress, task)
    r.raw = doc
    r.settings["plan"] = doc.get("plan", {})
    _metrics(r, doc)
    for b in doc.get("bars", []):
        r.bar(b["bar"], b["value"], b["target"], b["pass"])
    return r.finish()
