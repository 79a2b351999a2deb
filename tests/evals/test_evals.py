"""Evals: scripted conversations against the offline demo bot; passing and failing checks are told apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceframe.evals import load_suite, run_evals
from voiceframe.evals.cli import eval_command
from voiceframe.evals.scenario import ScenarioError, parse_suite

pytest.importorskip("voiceframe_espeak", reason="evals speak the user's turns with plugins/espeak")

SUITE = """
runs: 2
variations:
  - {voice: en-us, rate_wpm: 140, noise: 0}
  - {voice: en-gb, rate_wpm: 150, noise: 150}
scenarios:
  - name: weather
    turns:
      - say: what is the weather
        expect:
          transcript_contains: weather
          function_called: {name: get_weather, args: {city: Paris}}
          bot_says: sunny
          latency_under: 2.0
          interruption_handled: false
  - name: barge-in
    turns:
      - say: tell me something funny
        expect:
          function_called: get_time          # deliberately wrong: the joke needs no tool
      - say: goodbye
        barge_in: 1.0
        expect:
          interruption_handled: true
          transcript_contains: pizza         # deliberately wrong: nobody said pizza
          latency_under: 0.01                # deliberately impossible
"""


def test_pass_and_fail_detection(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    suite.runs = 1  # one run per scenario keeps the test fast; the CLI test below runs two
    report = run_evals(suite, record_dir=tmp_path / "runs")
    rates = report.pass_rates()
    for check in (
        "transcript_contains: weather",
        "function_called: {'name': 'get_weather', 'args': {'city': 'Paris'}}",
        "bot_says: sunny",
        "latency_under: 2.0",
        "interruption_handled: False",
    ):
        assert rates[("weather", 1, check)] == (1, 1), report.to_text()
    assert rates[("barge-in", 2, "interruption_handled: True")] == (1, 1), report.to_text()
    assert rates[("barge-in", 1, "function_called: {'name': 'get_time'}")] == (0, 1)
    assert rates[("barge-in", 2, "transcript_contains: pizza")] == (0, 1)
    assert rates[("barge-in", 2, "latency_under: 0.01")] == (0, 1)
    assert not report.ok() and not report.runs[1].passed and report.runs[0].passed
    text = report.to_text()
    assert "FAIL barge-in run 0" in text and "transcribed 'goodbye'" in text
    # each run's session is kept, ready for `voiceframe timeline`
    session = report.runs[1].session
    assert session is not None and Path(session).is_file()
    assert any(json.loads(line)["event"] == "interruption" for line in Path(session).read_text().splitlines())


def test_cli_reports_pass_rates_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "runs: 2\nscenarios:\n  - name: hello\n    turns:\n      - say: hello\n"
        "        expect: {transcript_contains: hello, latency_under: 1.5}\n"
    )
    out = tmp_path / "results.json"
    result = CliRunner().invoke(eval_command, [str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "transcript_contains: hello" in result.output and "2/2  100.0 %" in result.output
    rates = json.loads(out.read_text())["pass_rates"]
    assert {r["expectation"]: (r["passed"], r["runs"]) for r in rates} == {
        "transcript_contains: hello": (2, 2),
        "latency_under: 1.5": (2, 2),
    }
    bad = CliRunner().invoke(eval_command, [str(path), "--runs", "1", "--min-pass-rate", "1.0"])
    assert bad.exit_code == 0
    path.write_text(
        "scenarios:\n  - name: x\n    turns:\n      - say: hi\n        expect: {sounds_nice: true}\n"
    )
    invalid = CliRunner().invoke(eval_command, [str(path)])
    assert invalid.exit_code == 2 and "unknown check" in invalid.output


def test_scenario_validation() -> None:
    with pytest.raises(ScenarioError, match="non-empty 'scenarios'"):
        parse_suite({})
    with pytest.raises(ScenarioError, match="exactly one of 'say'"):
        parse_suite({"scenarios": [{"name": "a", "turns": [{"pause": 1}]}]})
    with pytest.raises(ScenarioError, match="latency_under"):
        parse_suite({"scenarios": [{"turns": [{"say": "hi", "expect": {"latency_under": "fast"}}]}]})


def test_the_example_file_is_valid() -> None:
    suite = load_suite(Path(__file__).resolve().parents[2] / "examples" / "evals" / "demo.yaml")
    assert len(suite.scenarios) == 3 and suite.runs == 3 and len(suite.variations) == 3
