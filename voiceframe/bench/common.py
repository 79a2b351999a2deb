"""What every suite shares: timing the run, stamping machine and versions, progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from voiceframe.bench.results import (
    Bar,
    BenchResult,
    Metric,
    Suite,
    load_average,
    machine_info,
    now_utc,
    versions,
)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A rich progress display on stderr (stdout carries the JSON)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as p:
        yield p


@dataclass
class Run:
    """Collects one suite run; :meth:`finish` turns it into a validated :class:`BenchResult`."""

    suite: Suite
    quick: bool
    settings: dict[str, Any]
    metrics: list[Metric] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: Any = field(default_factory=now_utc)
    _t0: float = field(default_factory=time.perf_counter)
    _load: list[float] = field(default_factory=load_average)
    # taken at the start: the tree may change while a long suite runs (the code measured is the old one)
    _versions: dict[str, str] = field(default_factory=versions)

    def bar(self, name: str, value: float, target: str, passed: bool) -> None:
        self.bars.append(Bar(name=name, value=value, target=target, passed=passed))

    def finish(self, extra_versions: tuple[str, ...] = ()) -> BenchResult:
        return BenchResult(
            suite=self.suite,
            started_at=self.started_at,
            wall_seconds=round(time.perf_counter() - self._t0, 2),
            quick=self.quick,
            machine=machine_info(self._load),
            versions=self._versions
            | {k: v for k, v in versions(extra_versions).items() if k not in self._versions},
            settings=self.settings,
            metrics=self.metrics,
            bars=self.bars,
            tables=self.tables,
            raw=self.raw,
            notes=self.notes,
        )


def step(p: Progress, description: str, total: float) -> TaskID:
    return p.add_task(description, total=total)
