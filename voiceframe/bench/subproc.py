"""Run one of the repository's ``benchmarks/*.py`` scripts and parse its JSON (for overhead/vad/services)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from rich.progress import Progress, TaskID


def benchmarks_dir() -> Path:
    """``benchmarks/`` of the source checkout voiceframe runs from (the scripts are not installed)."""
    import voiceframe

    d = Path(voiceframe.__file__).resolve().parent.parent / "benchmarks"
    if not d.is_dir():
        raise RuntimeError(
            f"{d} not found: run the overhead/vad/services suites from a voiceframe source checkout"
        )
    return d


def run_script(
    script: str, args: list[str], progress: Progress, task: TaskID, *, timeout: float = 900.0
) -> dict[str, Any]:
    """Run ``benchmarks/<script>``; its stderr lines advance ``task``; returns the JSON on its stdout."""
    d = benchmarks_dir()
    proc = subprocess.Popen(
        [sys.executable, str(d / script), *args],
        cwd=d,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tail: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line)
            del tail[:-40]
            if line.strip() and "DEBUG" not in line:
                progress.update(task, advance=1, description=f"{script}: {line.strip()[:60]}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"{script} took longer than {timeout:.0f} s") from None
    reader.join(timeout=5)
    progress.update(
        task, total=progress.tasks[task].completed or 1, completed=progress.tasks[task].completed or 1
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{''.join(tail)}")
    return _last_json(out)


def _last_json(out: str) -> dict[str, Any]:
    """The JSON document at the end of ``out`` (scripts may print other lines before it)."""
    start = out.find("{")
    while start != -1:
        try:
            doc = json.loads(out[start:])
        except json.JSONDecodeError:
            start = out.find("\n{", start + 1)
            start = start + 1 if start != -1 else -1
            continue
        if isinstance(doc, dict):
            return doc
        break
    raise RuntimeError("no JSON document in the script's output")
