"""One PNG per suite (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from voiceframe.bench.results import BenchResult, Metric
from voiceframe.bench.stages import STAGES


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _find(r: BenchResult, name: str) -> Metric | None:
    return next((m for m in r.metrics if m.name == name), None)


def _latency(r: BenchResult, plt: Any) -> Any:
    clocks = [c for c in ("virtual", "real") if _find(r, f"{c}.total")]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    for row, clock in enumerate(clocks):
        left = 0.0
        for i, stage in enumerate(STAGES):
            m = _find(r, f"{clock}.{stage}")
            v = 1000 * m.summary.p50 if m else 0.0
            ax.barh(row, v, left=left, color=f"C{i}", label=stage if row == 0 else None)
            left += v
    ax.set_yticks(range(len(clocks)), [f"{c} clock" for c in clocks])
    ax.set_xlabel("ms (median per stage, speech end -> first bot audio)")
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.set_title("voice-to-voice latency split")
    data = [[1000 * x for x in m.samples] for c in clocks if (m := _find(r, f"{c}.framework_added"))]
    ax2.boxplot(data, tick_labels=[f"{c}" for c in clocks])
    ax2.axhline(5.0, color="red", linestyle="--", linewidth=1, label="bar: p95 < 5 ms")
    ax2.set_ylabel("framework-added ms per turn")
    ax2.legend(fontsize=7)
    return fig


def _turn(r: BenchResult, plt: Any) -> Any:
    rows = r.tables.get("summary", [])
    names = [x["strategy"] for x in rows]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    width = 0.27
    for i, key in enumerate(("precision", "recall", "accuracy")):
        ax.bar(
            [j + (i - 1) * width for j in range(len(names))],
            [x.get(key) or 0.0 for x in rows],
            width,
            label=key,
        )
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    ax.set_title('"turn complete": precision / recall / accuracy')
    ax2.bar(names, [x.get("median_wait_s_complete") or 0.0 for x in rows])
    ax2.set_ylabel("s after speech end (complete turns, median)")
    ax2.tick_params(axis="x", labelsize=8)
    return fig


def _sessions(r: BenchResult, plt: Any) -> Any:
    rows = r.tables.get("levels", [])
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ns = [x["sessions"] for x in rows]
    ax.plot(ns, [x["p50_s"] for x in rows], marker="o", label="p50")
    ax.plot(ns, [x["p95_s"] for x in rows], marker="o", label="p95")
    if rows:
        ax.axhline(rows[0]["p95_s"] * 1.1, color="red", linestyle="--", linewidth=1, label="N=1 p95 + 10 %")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent sessions in one process")
    ax.set_ylabel("voice-to-voice s per turn")
    ax.legend(fontsize=7)
    return fig


def _bars(metrics: list[Metric], plt: Any, title: str, log: bool = False) -> Any:
    metrics = metrics[:40]
    fig, ax = plt.subplots(figsize=(10, 0.25 * len(metrics) + 1.2))
    ax.barh([m.name for m in metrics], [m.summary.p50 for m in metrics])
    if log:
        ax.set_xscale("log")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    units = sorted({m.unit for m in metrics})
    ax.set_xlabel(f"median ({', '.join(u for u in units if u)})")
    ax.set_title(title)
    return fig


def _by_unit(r: BenchResult, unit: str) -> list[Metric]:
    return [m for m in r.metrics if m.unit == unit]


def _panels(panels: list[tuple[str, list[Metric]]], plt: Any, log: bool = True) -> Any:
    """One horizontal bar panel per (title, metrics), bars coloured by the metric's group."""
    panels = [(t, ms) for t, ms in panels if ms]
    if not panels:  # e.g. a suite whose every provider was skipped
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "nothing measured", ha="center", va="center")
        ax.set_axis_off()
        return fig
    height = max(4.2, 0.22 * max(len(ms) for _, ms in panels) + 1.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False)
    colours: dict[str, str] = {}
    for ax, (title, ms) in zip(axes[0], panels, strict=True):
        for m in ms:
            colours.setdefault(m.group, f"C{len(colours)}")
        labels = [m.name if m.group in m.name else f"{m.name} [{m.group}]" for m in ms]
        ax.barh(labels, [m.summary.p50 for m in ms], color=[colours[m.group] for m in ms])
        if log:
            ax.set_xscale("log")
            ax.tick_params(axis="x", which="minor", labelbottom=False)  # 2x10^3... labels collide
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{title} ({ms[0].unit})", fontsize=9)
    return fig


def _overhead(r: BenchResult, plt: Any) -> Any:
    sides = [m for m in r.metrics if not m.name.startswith("ratio.")]
    return _panels(
        [
            ("throughput, N=10, higher is better", [m for m in sides if ".throughput.n10." in m.name]),
            (
                "hop latency N=10",
                [m for m in sides if ".hop_latency." in m.name and m.name.endswith("median")],
            ),
            ("interruption reaches 50 processors", [m for m in sides if ".interruption." in m.name]),
            (
                "same-round ratio vs pipecat, N=10 (x)",
                [m for m in r.metrics if m.name.startswith("ratio.") and ".throughput.n10." in m.name],
            ),
        ],
        plt,
    )


PLOTTERS: dict[str, Callable[[BenchResult, Any], Any]] = {
    "latency": _latency,
    "turn": _turn,
    "sessions": _sessions,
    "overhead": _overhead,
    "vad": lambda r, plt: _panels(
        [("Silero VAD CPU per 32 ms chunk", _by_unit(r, "us")), ("streams per core", _by_unit(r, "streams"))],
        plt,
        log=False,
    ),
    "services": lambda r, plt: _panels([("time to first byte", _by_unit(r, "ms"))], plt, log=False),
}


def plot_result(result: BenchResult, path: Path) -> Path:
    """Write ``result``'s plot to ``path`` (PNG) and return the path."""
    plt = _pyplot()
    plotter = PLOTTERS.get(result.suite)
    fig = plotter(result, plt) if plotter else _bars(result.metrics, plt, result.suite)
    fig.suptitle(f"voiceframe bench {result.suite} ({result.started_at:%Y-%m-%d %H:%M} UTC)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
