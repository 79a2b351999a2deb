"""``voiceframe eval scenarios.yaml``: run the scenarios, print pass rates, exit 1 below the bar."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voiceframe.cli_params import OutputFile

__all__ = ["eval_command"]


@click.command(name="eval")
@click.argument("scenarios", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--runs", type=click.IntRange(min=1), default=None, help="runs per scenario (overrides the file)"
)
@click.option(
    "--min-pass-rate",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="each check must pass this often",
)
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="keep each run's <scenario>-run<N>.jsonl (for voiceframe timeline) and <scenario>-run<N>.wav here",
)
@click.option(
    "--json", "json_path", type=OutputFile(".json"), default=None, help="also write the results here"
)
def eval_command(
    scenarios: str, runs: int | None, min_pass_rate: float, record_dir: str | None, json_path: Path | None
) -> None:
    """Run scripted multi-turn conversations against a bot and report pass rates."""
    from voiceframe.config import ConfigError
    from voiceframe.evals.runner import run_evals
    from voiceframe.evals.scenario import ScenarioError, load_suite

    try:
        suite = load_suite(scenarios)
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if runs is not None:
        suite.runs = runs
    if suite.config:
        from voiceframe.cli import valid_config

        valid_config(suite.config)  # a bad bot config: every problem, exit 2, before any run
    try:
        report = run_evals(
            suite,
            record_dir=record_dir,
            progress=lambda r: click.echo(
                f"{'pass' if r.passed else 'FAIL'}  {r.scenario}  run {r.run} ({r.variation})"
            ),
        )
    except (ConfigError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(report.to_text())
    if record_dir:
        click.echo(f"recorded every run in {record_dir}/ as <scenario>-run<N>.jsonl and .wav")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(report.to_json())
    sys.exit(0 if report.ok(min_pass_rate) else 1)
