"""``voiceframe bench SUITE``: run a suite, print a short summary, write its JSON (and a PNG plot).

The JSON goes to ``--out``, or to ``results/<suite>-<date>-<time>.json`` (the path is printed);
``--json`` also prints it on stdout, for piping.

Only click is imported here; each suite is imported when it runs.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from voiceframe.cli_params import OutputFile

SUITE_HELP = {
    "overhead": "runtime overhead, voiceframe vs pipecat-ai (wraps benchmarks/overhead.py)",
    "vad": "Silero VAD CPU per chunk and streams per core (wraps benchmarks/vad.py)",
    "turn": "end-of-turn accuracy and wait per strategy on labelled espeak-ng utterances",
    "latency": "voice-to-voice latency per turn of the offline demo bot, split by stage",
    "services": "time to first byte per provider plugin against local protocol servers",
    "sessions": "concurrent sessions per process before p95 turn latency rises > 10 %",
}


@click.group()
def bench() -> None:
    """Benchmark suites: JSON results, a plot per suite, reports comparing runs (docs/benchmarks.md)."""


def default_out(name: str) -> Path:
    """Where a suite's results go when --out is not given: results/<suite>-<UTC date>-<time>.json."""
    from datetime import UTC, datetime

    return Path("results") / f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"


def summary_table(result: Any) -> Any:
    """A rich table of a result's bars and metrics (p50, p95, count): what a terminal should show."""
    from rich.table import Table

    table = Table(title=f"voiceframe bench {result.suite}{' (quick)' if result.quick else ''}")
    for column in ("what", "p50", "p95", "n / target", "unit"):
        table.add_column(column, justify="left" if column in ("what", "unit") else "right")
    for bar in result.bars:
        verdict = "[green]pass[/green]" if bar.passed else "[red]FAIL[/red]"
        table.add_row(f"bar: {bar.name}", f"{bar.value:.4g}", "", f"{bar.target} {verdict}", "")
    for m in result.metrics:
        s = m.summary
        table.add_row(m.name, f"{s.p50:.4g}", f"{s.p95:.4g}" if s.count > 1 else "", str(s.count), m.unit)
    return table


def _emit(result: Any, out: Path | None, plot: bool, quiet: bool, as_json: bool = False) -> None:
    from rich.console import Console

    from voiceframe.bench.results import dump_result

    text = dump_result(result)
    if as_json:
        click.echo(text)
    elif not quiet:
        Console(stderr=True).print(summary_table(result))
    out = out if out is not None else default_out(result.suite)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    click.echo(f"wrote {out}", err=True)
    if plot:
        from voiceframe.bench.plots import plot_result

        png = plot_result(result, out.with_suffix(".png"))
        click.echo(f"wrote {png}", err=True)


def run_suite(name: str, quick: bool, **kwargs: Any) -> Any:
    """Run suite ``name`` with a progress display on stderr; returns its validated result."""
    from voiceframe.bench.common import progress_bar
    from voiceframe.log import logger

    logger.remove()  # the suites' sessions would log every turn on stderr, over the progress bars
    logger.add(sys.stderr, level="WARNING")
    module = importlib.import_module(f"voiceframe.bench.{name}")
    with progress_bar() as progress:
        return module.run(quick, progress, **kwargs)


def _suite_command(name: str) -> Callable[..., None]:
    @click.option("--quick", is_flag=True, help="fewer samples; finishes in about a minute or two")
    @click.option(
        "--out",
        type=OutputFile(".json"),
        help=f"write the JSON here [default: results/{name}-<date>-<time>.json]",
    )
    @click.option("--plot/--no-plot", default=True, help="also write a PNG next to the JSON")
    @click.option("--quiet", is_flag=True, help="do not print the summary table")
    @click.option("--json", "as_json", is_flag=True, help="print the JSON on stdout instead of the table")
    def command(quick: bool, out: Path | None, plot: bool, quiet: bool, as_json: bool) -> None:
        try:
            result = run_suite(name, quick)
        except RuntimeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        _emit(result, out, plot, quiet, as_json)

    command.__doc__ = SUITE_HELP[name][0].upper() + SUITE_HELP[name][1:] + "."
    return command


for _name in SUITE_HELP:
    bench.command(name=_name)(_suite_command(_name))


@bench.command(name="all")
@click.option("--quick", is_flag=True)
@click.option("--dir", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"))
@click.option("--skip", multiple=True, type=click.Choice(list(SUITE_HELP)), help="leave a suite out")
def all_suites(quick: bool, out_dir: Path, skip: tuple[str, ...]) -> None:
    """Run every suite, writing DIR/<suite>.json and DIR/<suite>.png."""
    for name in SUITE_HELP:
        if name in skip:
            continue
        try:
            result = run_suite(name, quick)
        except RuntimeError as exc:
            click.echo(f"{name}: error: {exc}", err=True)
            continue
        _emit(result, out_dir / f"{name}.json", plot=True, quiet=True)


def describe_invalid(path: Path, exc: Exception) -> str:
    """One line for a file that is not a bench result: the first problem, and how many there are."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return f"{path}: cannot read it ({exc})"
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{path}: not a voiceframe bench result: {where + ': ' if where else ''}{first['msg']}{more}"


def load_results(files: tuple[Path, ...]) -> list[tuple[Path, Any]]:
    """Every file as a result, or each bad file named on one line and exit 2."""
    from pydantic import ValidationError

    from voiceframe.bench.results import load_result

    results, bad = [], []
    for p in files:
        try:
            results.append((p, load_result(p)))
        except (ValidationError, OSError, UnicodeDecodeError) as exc:
            bad.append(describe_invalid(p, exc))
    for line in bad:
        click.echo(f"error: {line}", err=True)
    if bad:
        sys.exit(2)
    return results


@bench.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--out", type=OutputFile(), help="write Markdown (or .html) here")
def report(files: tuple[Path, ...], out: Path | None) -> None:
    """Render one report comparing result files (e.g. results/*.json from two runs)."""
    from voiceframe.bench.report import render_html, render_markdown

    results = load_results(files)
    text = (
        render_html(results)
        if out is not None and out.suffix in (".html", ".htm")
        else render_markdown(results)
    )
    if out is None:
        click.echo(text)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)


@bench.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def plot(files: tuple[Path, ...]) -> None:
    """(Re)draw the PNG next to each results file."""
    from voiceframe.bench.plots import plot_result

    for p, result in load_results(files):
        click.echo(f"wrote {plot_result(result, p.with_suffix('.png'))}")


@bench.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=OutputFile(".json"), help="write the JSON Schema here")
def schema(files: tuple[Path, ...], out: Path | None) -> None:
    """Print the results JSON Schema, or validate FILES against it."""
    from pydantic import ValidationError

    from voiceframe.bench.results import json_schema, load_result

    if files:
        bad = 0
        for p in files:
            try:
                load_result(p)
                click.echo(f"{p}: valid")
            except (ValidationError, OSError, UnicodeDecodeError) as exc:
                bad += 1
                click.echo(f"{describe_invalid(p, exc)}", err=True)
        sys.exit(1 if bad else 0)
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)
