"""``voiceframe bench report``: one Markdown or HTML report comparing result files.

Results are grouped by suite; within a suite each file is a run (column), and the last run is
compared with the first (change of the median, marked better/worse by the metric's direction).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from voiceframe.bench.results import BenchResult

Block = tuple[str, Any]  # ("h2"|"h3"|"p", text) or ("table", (header, rows))
SUITE_TABLES = {"turn": "summary", "sessions": "levels"}


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 1:
        return f"{x:.3g}" if a < 100 else f"{x:.0f}"
    return f"{x:.3g}"


def _change(first: float, last: float, better: str) -> str:
    if first == 0:
        return ""
    pct = 100 * (last - first) / abs(first)
    if abs(pct) < 0.05:
        return "0 %"
    good = (pct < 0) == (better == "lower")
    return f"{pct:+.1f} % ({'better' if good else 'worse'})"


def _label(i: int, path: Path) -> str:
    # "results/overhead.json", or just "overhead.json" for a file in the working directory
    folder = path.parent.name
    return f"run {i + 1}: {folder}/{path.name}" if folder else f"run {i + 1}: {path.name}"


def _scale(unit: str) -> tuple[str, float]:
    """Seconds read better as milliseconds in a latency table."""
    return ("ms", 1000.0) if unit == "s" else (unit, 1.0)


def _suite_blocks(suite: str, runs: list[tuple[Path, BenchResult]]) -> list[Block]:
    blocks: list[Block] = [("h2", f"{suite}")]
    header = ["run", "started (UTC)", "quick", "wall s", "load avg start/end", "cpus", "voiceframe git"]
    rows = [
        [
            _label(i, p),
            f"{r.started_at:%Y-%m-%d %H:%M}",
            "yes" if r.quick else "no",
            f"{r.wall_seconds:.0f}",
            f"{r.machine.load_average_start[0]:.2f} / {r.machine.load_average_end[0]:.2f}",
            str(r.machine.cpus),
            r.versions.get("voiceframe_git", "?"),
        ]
        for i, (p, r) in enumerate(runs)
    ]
    blocks.append(("table", (header, rows)))
    bar_names = list(dict.fromkeys(b.name for _, r in runs for b in r.bars))
    if bar_names:
        head = ["bar", "target"] + [f"run {i + 1}" for i in range(len(runs))]
        brows = []
        for name in bar_names:
            cells: list[str] = []
            target = ""
            for _, r in runs:
                b = next((b for b in r.bars if b.name == name), None)
                target = target or (b.target if b else "")
                cells.append("—" if b is None else f"{_fmt(b.value)} {'pass' if b.passed else '**FAIL**'}")
            brows.append([name, target, *cells])
        blocks += [("h3", "bars"), ("table", (head, brows))]
    names = list(dict.fromkeys(m.name for _, r in runs for m in r.metrics))
    head = ["metric", "unit"] + [f"run {i + 1} p50 (p95)" for i in range(len(runs))]
    if len(runs) > 1:
        head.append("last vs first (p50)")
    mrows = []
    for name in names:
        ms = [next((m for m in r.metrics if m.name == name), None) for _, r in runs]
        known = [m for m in ms if m is not None]
        unit, k = _scale(known[0].unit)
        cells = [
            "—"
            if m is None
            else _fmt(k * m.summary.p50) + (f" ({_fmt(k * m.summary.p95)})" if m.summary.count > 1 else "")
            for m in ms
        ]
        row = [name, unit, *cells]
        if len(runs) > 1:
            first, last = ms[0], ms[-1]
            row.append(_change(first.summary.p50, last.summary.p50, last.better) if first and last else "")
        mrows.append(row)
    blocks += [("h3", "metrics"), ("table", (head, mrows))]
    key = SUITE_TABLES.get(suite)
    for i, (p, r) in enumerate(runs):
        table = r.tables.get(key or "", [])
        if table:
            cols = list(table[0])
            blocks += [
                ("h3", f"{key}, {_label(i, p)}"),
                ("table", (cols, [[str(x.get(c, "")) for c in cols] for x in table])),
            ]
    notes: dict[str, list[str]] = {}
    for i, (_, r) in enumerate(runs):
        for note in r.notes:
            notes.setdefault(note, []).append(f"run {i + 1}")
    for note, who in notes.items():
        blocks.append(("p", f"{', '.join(who)}: {note}"))
    return blocks


def blocks(results: list[tuple[Path, BenchResult]]) -> list[Block]:
    out: list[Block] = [("h1", "voiceframe bench report")]
    suites = list(dict.fromkeys(r.suite for _, r in results))
    for suite in suites:
        out += _suite_blocks(suite, [(p, r) for p, r in results if r.suite == suite])
    return out


def render_markdown(results: list[tuple[Path, BenchResult]]) -> str:
    lines: list[str] = []
    for kind, content in blocks(results):
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + content, ""]
        elif kind == "p":
            lines += [content, ""]
        else:
            header, rows = content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def render_html(results: list[tuple[Path, BenchResult]]) -> str:
    parts = ["<!doctype html><meta charset=utf-8><title>voiceframe bench report</title>",
             "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style>"]  # fmt: skip
    for kind, content in blocks(results):
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{html.escape(content).replace('**', '')}</{kind}>")
        else:
            header, rows = content
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            for row in rows:
                parts.append(
                    "<tr>" + "".join(f"<td>{html.escape(c).replace('**', '')}</td>" for c in row) + "</tr>"
                )
            parts.append("</table>")
    return "\n".join(parts) + "\n"
