"""The JSON results schema shared by every suite (pydantic models), and how to fill and load it.

One file per run: ``BenchResult``. Numbers that compare across runs are ``Metric`` s (raw samples plus
their percentiles); design targets are ``Bar`` s; anything suite-specific goes in ``tables``/``raw``.
The JSON Schema export is ``docs/bench-schema.json`` (``voiceframe bench schema``).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voiceframe.bench import stats

SCHEMA_VERSION: Literal[1] = 1
Suite = Literal["overhead", "vad", "turn", "latency", "services", "sessions"]
SUITES: tuple[str, ...] = ("overhead", "vad", "turn", "latency", "services", "sessions")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Summary(_Strict):
    """Percentiles of a metric's samples (linear interpolation, like numpy)."""

    count: int = Field(ge=1)
    mean: float
    min: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: list[float]) -> Summary:
        return cls(
            count=len(samples),
            mean=stats.mean(samples),
            min=min(samples),
            p50=stats.percentile(samples, 50),
            p95=stats.percentile(samples, 95),
            p99=stats.percentile(samples, 99),
            max=max(samples),
        )


class Metric(_Strict):
    """One measured quantity: every raw sample and their summary."""

    name: str = Field(min_length=1, description="unique within the result, e.g. 'stage.llm_first_token'")
    unit: str = Field(description="s, ms, us, frames/s, ratio, fraction, count, streams")
    samples: list[float] = Field(min_length=1)
    summary: Summary
    better: Literal["lower", "higher"] = "lower"
    group: str = Field("", description="what this metric belongs to (a side, a strategy, a stage)")

    @model_validator(mode="after")
    def _summary_matches_samples(self) -> Metric:
        expect = Summary.of(self.samples)
        if self.summary.count != expect.count or abs(self.summary.p50 - expect.p50) > 1e-9 * (
            1 + abs(expect.p50)
        ):
            raise ValueError(f"metric {self.name!r}: summary does not match its samples")
        return self


class Bar(_Strict):
    """A design target and whether this run met it."""

    name: str
    value: float
    target: str
    passed: bool


class Machine(_Strict):
    platform: str
    python: str
    cpus: int | None
    cpu_model: str
    memory_bytes: int | None
    load_average_start: list[float]
    load_average_end: list[float]


class BenchResult(_Strict):
    """One run of one suite."""

    schema_version: Literal[1] = SCHEMA_VERSION
    suite: Suite
    started_at: datetime
    wall_seconds: float = Field(ge=0)
    quick: bool
    machine: Machine
    versions: dict[str, str]
    settings: dict[str, Any]
    metrics: list[Metric]
    bars: list[Bar] = Field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, description="suite-specific raw output")
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_metric_names(self) -> BenchResult:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate metric names: {dupes}")
        return self

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)


def metric(
    name: str,
    unit: str,
    samples: list[float],
    *,
    better: Literal["lower", "higher"] = "lower",
    group: str = "",
) -> Metric:
    """A :class:`Metric` with its summary computed from ``samples``."""
    xs = [float(x) for x in samples]
    return Metric(name=name, unit=unit, samples=xs, summary=Summary.of(xs), better=better, group=group)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(load_start: list[float]) -> Machine:
    return Machine(
        platform=platform.platform(),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        cpu_model=_cpu_model(),
        memory_bytes=_memory_bytes(),
        load_average_start=load_start,
        load_average_end=load_average(),
    )


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here.parent, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


VERSIONED = ("voiceframe", "pipecat-ai", "numpy", "onnxruntime", "pydantic", "looptime")


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of what the numbers depend on, plus the voiceframe git commit."""
    out = {"voiceframe_git": _git_commit()}
    for dist in VERSIONED + extra:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def load_result(path: str | Path) -> BenchResult:
    """Read and validate one results file (raises ``pydantic.ValidationError`` if it does not fit)."""
    return BenchResult.model_validate_json(Path(path).read_text())


def dump_result(result: BenchResult) -> str:
    return result.model_dump_json(indent=2)


def json_schema() -> dict[str, Any]:
    schema = BenchResult.model_json_schema()
    schema["$id"] = "https://voiceframe.dev/bench-schema.json"
    schema["title"] = "voiceframe bench result"
    return schema


def now_utc() -> datetime:
    return datetime.now(UTC)
