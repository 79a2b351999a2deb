"""``voiceframe eval scenarios.yaml``: run the scenarios, print pass rates, exit 1 below the bar."""

from __future__ import annotations

import sys

import click

__all__ = ["eval_command"]


@click.command(name="eval")
@click.argument("scenarios", type=click.Path(exists=True, dir_okay=False))
@click.option("--runs", type=int, default=None, help="runs per scenario (overrides the file)")
@click.option("--min-pass-rate", default=1.0, show_default=True, help="each check must pass this often")
@click.option("--record", "record_dir", default=None, help="keep each run's session.jsonl and reply WAV here")
@click.option("--json", "json_path", default=None, help="also write the results as JSON to this file")
def eval_command(
    scenarios: str, runs: int | None, min_pass_rate: float, record_dir: str | None, json_path: str | None
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
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(report.to_json())
    sys.exit(0 if report.ok(min_pass_rate) else 1)
