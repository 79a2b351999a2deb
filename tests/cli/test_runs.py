"""File runs end to end (the offline demo bot on the virtual clock): what the user is told, and where
files go."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import assert_no_traceback, invoke
from tests.services.fakes import FakeScriptedLLM
from voiceframe.services import registry

ROOT = Path(__file__).resolve().parents[2]


def test_record_writes_a_session_the_timeline_command_reads(hello_wav: Path, tmp_path: Path) -> None:
    result = invoke("demo", "--input", str(hello_wav), "--output", "reply.wav", "--record", "session.jsonl")
    assert result.exit_code == 0, result.output
    assert "session recorded to session.jsonl" in result.stdout
    assert "user: hello" in result.stdout
    plot = invoke("timeline", "session.jsonl", "-o", "timeline.png")
    assert plot.exit_code == 0 and (tmp_path / "timeline.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reply.wav", "session.jsonl", "timeline.png"]


def test_run_writes_only_where_asked_or_to_a_printed_temporary_path(hello_wav: Path, tmp_path: Path) -> None:
    result = invoke("demo", "--input", str(hello_wav))
    assert result.exit_code == 0, result.output
    [written] = re.findall(r"reply audio written to (\S+)", result.stdout)
    assert Path(written).is_file() and Path(written).parent != tmp_path
    assert list(tmp_path.iterdir()) == []  # nothing in the working directory


@pytest.mark.slow  # speaks and answers the whole 45 s demo conversation (~3 s)
def test_script_keeps_the_user_wav_out_of_the_working_directory(tmp_path: Path) -> None:
    result = invoke("demo", "--script")
    assert result.exit_code == 0, result.output
    [user] = re.findall(r"\((\S+user\.wav)\)", result.stdout)
    [reply] = re.findall(r"reply audio written to (\S+)", result.stdout)
    assert Path(user).parent == Path(reply).parent != tmp_path
    assert list(tmp_path.iterdir()) == []


def test_no_speech_in_the_whole_input_is_said(tmp_path: Path) -> None:
    from voiceframe.transports.file import write_wav

    write_wav(tmp_path / "quiet.wav", bytes(2 * 16000 * 30), 16000)
    result = invoke("demo", "--input", "quiet.wav", "--output", "reply.wav")
    assert result.exit_code == 0, result.output
    assert "no speech heard in quiet.wav (30.0 s of audio; it is silent)" in result.stdout
    assert_no_traceback(result)


def test_speech_heard_in_a_file_gives_no_notice(hello_wav: Path) -> None:
    result = invoke("demo", "--input", str(hello_wav), "--output", "reply.wav")
    assert result.exit_code == 0 and "no speech heard" not in result.stdout


@pytest.fixture
def broken_llm() -> Iterator[None]:
    registry.register("llm", "fake-broken", FakeScriptedLLM)
    yield
    registry.unregister("llm", "fake-broken")


def test_a_fallback_that_worked_is_a_warning_and_exit_0(broken_llm: None, hello_wav: Path) -> None:
    Path("bot.toml").write_text(
        '[stt]\nprovider = "pocketsphinx"\ngrammar = ["hello"]\n'
        '[llm]\nprovider = "fake-broken"\nfail_with = "connection refused"\nfallback = "scripted"\n'
        '[tts]\nprovider = "espeak"\n'
    )
    result = invoke("run", "bot.toml", "--input", str(hello_wav), "--output", "reply.wav", "--fast")
    assert result.exit_code == 0, result.output
    assert "bot" in result.stdout and "Hello!" in result.stdout  # the backup answered
    assert (
        "warning:" in result.stderr
        and "switched to" in result.stderr
        and "connection refused" in result.stderr
    )
    assert "error:" not in result.stderr


def test_a_failure_with_no_backup_exits_1(broken_llm: None, hello_wav: Path) -> None:
    Path("bot.toml").write_text(
        '[stt]\nprovider = "pocketsphinx"\ngrammar = ["hello"]\n'
        '[llm]\nprovider = "fake-broken"\nfail_with = "connection refused"\n'
        '[tts]\nprovider = "espeak"\n'
    )
    result = invoke("run", "bot.toml", "--input", str(hello_wav), "--output", "reply.wav", "--fast")
    assert result.exit_code == 1 and "connection refused" in result.stderr, result.output


async def _log_lines(wav: Path, tmp_path: Path) -> list[str]:
    from voiceframe.bot import build_bot, run_bot
    from voiceframe.config import load_valid_config
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.observe.conversation import ConversationLog
    from voiceframe.task import PipelineParams
    from voiceframe.transports.file import FileTransport

    lines: list[str] = []
    log = ConversationLog(on_line=lines.append)
    bot = build_bot(load_valid_config(None), FileTransport(wav, tmp_path / "r.wav"), tools=DEMO_TOOLS)
    await run_bot(bot, observers=[log], params=PipelineParams(16000, 16000))
    return lines


def test_times_are_seconds_since_the_session_started(hello_wav: Path, tmp_path: Path) -> None:
    from voiceframe.clock import new_virtual_loop

    loop = new_virtual_loop(start=8908.0)  # a real loop clock reads hours, not zero
    try:
        lines = loop.run_until_complete(_log_lines(hello_wav, tmp_path))
    finally:
        loop.close()
    times = [float(m.group(1)) for line in lines if (m := re.match(r"\[\s*([\d.]+)s\]", line))]
    assert len(times) == len(lines) >= 2  # "hello" and the answer (and the greeting, when it plays)
    assert all(t < 30 for t in times)
    user = next(line for line in lines if "user: hello" in line)
    assert 1.0 <= float(user[1:8]) < 4.0  # "hello" is spoken from 1.0 s into the file


def test_turn_taking_example_converts_a_44k_stereo_wav(tmp_path: Path) -> None:
    from voiceframe.audio.vad.model_files import ModelFileNotFoundError, smart_turn_path

    try:
        smart_turn_path()
    except ModelFileNotFoundError:
        pytest.skip("the example's Smart Turn model ships in pipecat-ai")
    import numpy as np
    from voiceframe_espeak import speak_to_pcm

    from voiceframe.transports.file import write_wav

    speech = np.frombuffer(speak_to_pcm("I need to talk to someone about my bill.", 44100), np.int16)
    mono = np.concatenate([np.zeros(22050, np.int16), speech, np.zeros(4 * 44100, np.int16)])
    write_wav(tmp_path / "stereo44k.wav", np.stack([mono, mono], 1).tobytes(), 44100, 2)
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "turn_taking.py"), str(tmp_path / "stereo44k.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "AssertionError" not in run.stderr and "UserStartedSpeakingFrame" in run.stdout
    assert re.search(r"pause at +\d+\.\d+ s: p=\d\.\d+ -> smart turn: (complete|incomplete)", run.stdout)
    for line in run.stdout.splitlines():
        if "incomplete" in line:
            assert "the turn ends after 3 s more silence (max_wait)" in line


def test_turn_taking_example_refuses_a_non_wav_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "turn_taking.py"), str(tmp_path / "x.wav")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        run.returncode == 1
        and run.stderr.strip()
        == f"error: {tmp_path / 'x.wav'} is empty (0 bytes); give a WAV file with speech in it"
    )
