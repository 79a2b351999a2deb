"""`voiceframe bench`: a summary table on the terminal, the JSON in a named default file; report labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import invoke
from voiceframe.bench.common import Run
from voiceframe.bench.results import metric


def fake_result(*_: Any, **__: Any) -> Any:
    run = Run("latency", True, {"turns": 3})
    run.metrics.append(metric("virtual.total", "s", [0.9, 1.0, 1.2]))
    run.bar("framework-added p95 per turn, virtual clock (s)", 0.001, "< 0.005", True)
    return run.finish()


def test_a_suite_without_out_prints_a_table_and_names_its_results_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("voiceframe.bench.cli.run_suite", fake_result)
    result = invoke("bench", "latency", "--no-plot")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no 38 KB of JSON on the terminal
    assert "virtual.total" in result.stderr and "pass" in result.stderr
    [written] = [
        line.removeprefix("wrote ") for line in result.stderr.splitlines() if line.startswith("wrote ")
    ]
    assert written.startswith("results/latency-") and written.endswith(".json")
    assert json.loads((tmp_path / written).read_text())["suite"] == "latency"
    piped = invoke("bench", "latency", "--no-plot", "--json", "--out", "x.json")
    assert json.loads(piped.stdout)["suite"] == "latency" and (tmp_path / "x.json").is_file()


def test_report_labels_a_file_in_the_working_directory_by_its_name(tmp_path: Path) -> None:
    from voiceframe.bench.results import dump_result

    Path("overhead.json").write_text(dump_result(fake_result()))
    result = invoke("bench", "report", "overhead.json")
    assert result.exit_code == 0, result.output
    assert "run 1: overhead.json" in result.stdout and "/overhead.json" not in result.stdout


def test_files_that_are_not_results_are_one_line_each(tmp_path: Path) -> None:
    Path("bad.json").write_text("nope\n")
    Path("other.json").write_text('{"a": 1}\n')
    for command in ("report", "plot"):
        result = invoke("bench", command, "bad.json", "other.json")
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.stderr.splitlines() == [
            "error: bad.json: not a voiceframe bench result: Invalid JSON: expected ident at line 1 column 2",
            "error: other.json: not a voiceframe bench result: suite: Field required (and 8 more problems)",
        ]
    schema = invoke("bench", "schema", "bad.json")
    assert schema.exit_code == 1 and len(schema.stderr.splitlines()) == 1


def test_timeline_of_a_file_that_is_not_a_session(tmp_path: Path) -> None:
    Path("x.jsonl").write_text('{"a": 1}\n')
    result = invoke("timeline", "x.jsonl", "-o", "x.png")
    assert result.exit_code == 2 and "x.jsonl:1: not a session event" in result.stderr
    assert "Traceback" not in result.output
    missing = invoke("timeline", "x.jsonl", "-o", "nodir/x.png")
    assert missing.exit_code == 2 and "the folder nodir does not exist" in missing.stderr
