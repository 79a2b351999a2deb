"""``vad``: Silero VAD CPU per 32 ms chunk and streams per core, voiceframe vs pipecat-ai.

Wraps ``benchmarks/vad.py`` (shared ONNX session, with and without batching; pipecat's
``SileroVADAnalyzer`` capped at 16 streams).
"""

from __future__ import annotations

from rich.progress import Progress

from voiceframe.bench.common import Run
from voiceframe.bench.results import BenchResult, metric
from voiceframe.bench.subproc import run_script


def run(quick: bool, progress: Progress) -> BenchResult:
    seconds, streams = ("2", "1,8,32") if quick else ("4", "1,8,32,150")
    r = Run("vad", quick, {"seconds_per_stream": float(seconds), "streams": streams})
    task = progress.add_task("vad", total=len(streams.split(",")))
    doc = run_script("vad.py", ["--seconds", seconds, "--streams", streams], progress, task)
    r.raw = doc
    for row in doc["runs"]:
        n = row["streams"]
        for side in ("voiceframe", "voiceframe_batched", "pipecat"):
            if side in row:
                r.metrics.append(
                    metric(f"n{n}.{side}.us_per_chunk", "us", [row[side]["us_per_chunk"]], group=side)
                )
                r.metrics.append(
                    metric(
                        f"n{n}.{side}.streams_per_core",
                        "streams",
                        [row[side]["streams_per_core"]],
                        better="higher",
                        group=side,
                    )
                )
    s = doc["summary"]
    r.metrics.append(
        metric("model_only.voiceframe.us_per_chunk", "us", [doc["voiceframe_model_only_us_per_chunk"]])
    )
    bar = s["bar_streams_per_core"]
    r.bar(
        "streams per core, unbatched", s["voiceframe_streams_per_core"], f">= {bar}", s["meets_bar_unbatched"]
    )
    r.bar(
        "streams per core, batched",
        s["voiceframe_batched_streams_per_core"],
        f">= {bar}",
        s["meets_bar_batched"],
    )
    if s.get("cpu_vs_pipecat") is not None:
        r.metrics.append(metric("cpu_vs_pipecat", "ratio", [s["cpu_vs_pipecat"]]))
    r.notes.append(
        "each value is best-of-3 CPU time per chunk (process_time), as benchmarks/vad.py measures it"
    )
    return r.finish()
