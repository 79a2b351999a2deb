"""``services``: time to first byte per provider plugin against its local protocol server.

Wraps ``benchmarks/services.py``: each installed plugin's ``voiceframe_<name>.testing.benchmark_ttfb()``
runs the real plugin against a 127.0.0.1 server speaking the provider's protocol (no keys, no network).
"""

from __future__ import annotations

from rich.progress import Progress

from voiceframe.bench.common import Run
from voiceframe.bench.flatten import as_metrics
from voiceframe.bench.results import BenchResult
from voiceframe.bench.subproc import run_script

PLUGINS = ["openai", "anthropic", "deepgram", "cartesia", "elevenlabs"]


def run(quick: bool, progress: Progress, *, only: list[str] | None = None) -> BenchResult:
    names = only or PLUGINS
    r = Run("services", quick, {"plugins": names, "servers": "local protocol servers on 127.0.0.1"})
    task = progress.add_task("services", total=len(names))
    doc = run_script("services.py", ["--only", ",".join(names)], progress, task)
    r.raw = doc
    for name, result in doc.get("results", {}).items():
        if not isinstance(result, dict):
            continue
        if "skipped" in result or "error" in result:
            r.notes.append(f"{name}: {result.get('skipped') or result.get('error')}")
            continue
        r.metrics += as_metrics({k: v for k, v in result.items() if k != "wall_seconds"}, name, group=name)
    r.notes.append("each metric is one value the plugin's benchmark_ttfb() reported (its own repeats inside)")
    return r.finish(tuple(f"voiceframe-{n}" for n in names))
