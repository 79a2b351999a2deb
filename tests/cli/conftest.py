"""Shared pieces of the CLI tests: a short spoken WAV, an environment without API keys, one invoker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from voiceframe.cli import main

pytest.importorskip("voiceframe_espeak", reason="the CLI tests speak with plugins/espeak")

API_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPGRAM_API_KEY",
    "CARTESIA_API_KEY",
    "ELEVENLABS_API_KEY",
)


@pytest.fixture(autouse=True)
def no_api_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in API_KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a file written to the working directory by mistake is found here


@pytest.fixture(scope="session")
def hello_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user turn the demo bot understands: 1 s of silence, "hello", 3 s of silence (16 kHz mono)."""
    from voiceframe.demo import make_script_wav

    path = tmp_path_factory.mktemp("wav") / "hello.wav"
    make_script_wav(path, [(1.0, "hello")], gap=3.0)
    return path


def invoke(*args: str) -> Result:
    """Run ``voiceframe ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, list(args))


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
