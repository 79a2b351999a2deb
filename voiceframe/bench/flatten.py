"""Turn a script's nested JSON into metrics: every numeric leaf becomes a one-sample metric."""

from __future__ import annotations

from typing import Any, Literal

from voiceframe.bench.results import Metric, metric

_UNITS = (("_ms", "ms"), ("_us", "us"), ("_s", "s"), ("_bytes", "bytes"), ("frames_s", "frames/s"))
_HIGHER = ("per_core", "speedup", "throughput", "frames_s", "streams")


def unit_of(key: str) -> str:
    for suffix, unit in _UNITS:
        if key.endswith(suffix) or f"{suffix}_" in key:
            return unit
    return ""


def leaves(doc: Any, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted path, value) of every int/float leaf (booleans are left out)."""
    if isinstance(doc, dict):
        return [x for k, v in doc.items() for x in leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(doc, list):
        return [x for i, v in enumerate(doc) for x in leaves(v, f"{prefix}[{i}]")]
    if isinstance(doc, bool) or not isinstance(doc, int | float):
        return []
    return [(prefix, float(doc))]


def as_metrics(doc: Any, prefix: str, group: str = "") -> list[Metric]:
    out = []
    for path, value in leaves(doc, prefix):
        if value != value:  # NaN: not a measurement
            continue
        last = path.rsplit(".", 1)[-1]
        better: Literal["lower", "higher"] = "higher" if any(h in path for h in _HIGHER) else "lower"
        out.append(metric(path, unit_of(last), [value], better=better, group=group))
    return out
