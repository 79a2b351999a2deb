"""``overhead``: the core runtime's workloads, voiceframe vs pipecat-ai side by side.

Wraps ``benchmarks/overhead.py`` (every (workload, side) pair in a fresh interpreter; method in
``docs/benchmarks.md``). The script reports per-workload medians over its repeats, so each metric
here is one median; the script's whole document is kept under ``raw``.
"""

from __future__ import annotations

from typing import Any

from rich.progress import Progress

from voiceframe.bench.common import Run
from voiceframe.bench.results import BenchResult, metric
from voiceframe.bench.subproc import run_script

SIDES = ("voiceframe", "pipecat_bare", "pipecat_default")
KINDS = ("input", "output")


def _metrics(r: Run, res: dict[str, Any]) -> None:
    for side in SIDES:
        for n, by_kind in res["throughput"].get(side, {}).items():
            for k in KINDS:
                r.metrics.append(
                    metric(
                        f"{side}.throughput.n{n}.{k}",
                        "frames/s",
                        [by_kind[k]["median"]],
                        better="higher",
                        group=side,
                    )
                )
        for k in KINDS:
            lat = res["latency"].get(side, {}).get(k)
            if lat:
                r.metrics.append(
                    metric(f"{side}.hop_latency.{k}.median", "us", [lat["median_us"]], group=side)
                )
                r.metrics.append(metric(f"{side}.hop_latency.{k}.p99", "us", [lat["p99_us"]], group=side))
        for mode, v in res["interruption"].get(side, {}).items():
            r.metrics.append(
                metric(f"{side}.interruption.{mode}", "ms", [v["reach_all_ms"]["median"]], group=side)
            )
        for n, v in res["memory"].get(side, {}).get("tracemalloc", {}).items():
            r.metrics.append(
                metric(f"{side}.memory.n{n}.per_session", "bytes", [v["per_session_bytes"]], group=side)
            )
            r.metrics.append(
                metric(f"{side}.memory.n{n}.tasks", "count", [v["tasks_per_session"]], group=side)
            )
    for side, modules in res["import"].items():
        for module, v in modules.items():
            r.metrics.append(metric(f"{side}.import.{module}", "s", [v["median_s"]], group=side))


def run(quick: bool, progress: Progress) -> BenchResult:
    r = Run("overhead", quick, {"script": "benchmarks/overhead.py", "quick": quick})
    # 3 sides x (throughput, latency, interruption, memory 1-3) + imports: about 20 progress lines
    task = progress.add_task("overhead", total=20)
    doc = run_script("overhead.py", ["--quick"] if quick else [], progress, task)
    r.raw = doc
    r.settings["plan"] = doc.get("plan", {})
    _metrics(r, doc["results"])
    for b in doc.get("bars", []):
        r.bar(b["bar"], b["value"], b["target"], b["pass"])
    return r.finish()
