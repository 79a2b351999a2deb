"""Time to first byte of every installed provider plugin against its local protocol server.

Each plugin ships ``voiceframe_<name>.testing.benchmark_ttfb()``: it runs the real plugin against a
server on 127.0.0.1 that speaks the provider's protocol and reports the plugin's time to first byte,
the server's own response time and (where measured) a bare client's, so what remains is the overhead
the plugin adds. The target is < 1 ms of added overhead.

    .venv/bin/python benchmarks/services.py [--out results/services.json] [--only openai,cartesia]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

PLUGINS = ["openai", "anthropic", "deepgram", "cartesia", "elevenlabs"]


async def run(names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        try:
            testing = importlib.import_module(f"voiceframe_{name}.testing")
        except ImportError as exc:
            results[name] = {"skipped": f"plugin not installed: {exc}"}
            continue
        started = time.perf_counter()
        try:
            results[name] = await testing.benchmark_ttfb()
        except Exception as exc:  # one broken plugin must not hide the others' numbers
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["wall_seconds"] = round(time.perf_counter() - started, 2)
        print(f"{name}: done", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", default=",".join(PLUGINS))
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    report = {
        "suite": "services",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "target_overhead_ms": 1.0,
        "results": asyncio.run(run(names)),
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
