"""Every bad argument is one clear line from click, before any work starts; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import assert_no_traceback, invoke


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--port", "99999"], "'--port': 99999 is not in the range 0<=x<=65535"),
        (["demo", "--max-sessions", "0"], "'--max-sessions': 0 is not in the range x>=1"),
        (["demo", "--port", "http"], "'--port': 'http' is not a valid integer"),
        (["demo", "--output", "reply.wav"], "--output is for file runs: add --input FILE or --script"),
    ],
)
def test_bad_server_arguments(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "open http" not in result.stdout  # nothing was served
    assert_no_traceback(result)


def test_output_in_a_missing_folder_is_refused_before_the_conversation(hello_wav: Path) -> None:
    for command in (["demo"], ["run", "bot.toml"]):
        Path("bot.toml").write_text(
            '[stt]\nprovider = "pocketsphinx"\n[llm]\nprovider = "scripted"\n[tts]\nprovider = "espeak"\n'
        )
        result = invoke(*command, "--input", str(hello_wav), "--output", "nodir/x.wav", "--fast")
        assert result.exit_code == 2
        assert "cannot write nodir/x.wav: the folder nodir does not exist; create it first" in result.stderr
        assert "bot" not in result.stdout  # the conversation never ran
        assert_no_traceback(result)
    record = invoke("demo", "--input", str(hello_wav), "--record", "nodir/s.jsonl")
    assert record.exit_code == 2 and "the folder nodir does not exist" in record.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty.wav is empty (0 bytes); give a WAV file with speech in it"),
        (b"ID3\x04\x00\x00" + bytes(100), "is not a WAV file (it looks like an MP3); convert it, e.g. sox"),
        (b"hello, not audio at all", "is not a WAV file; convert it, e.g. sox"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "the WAV file is cut short"),
    ],
)
def test_bad_input_files_get_a_clear_message(content: bytes, message: str) -> None:
    Path("empty.wav").write_bytes(content)
    for command in (["demo"], ["run", "bot.toml"]):
        Path("bot.toml").write_text("")
        result = invoke(*command, "--input", "empty.wav")
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert "()" not in result.stderr
        assert_no_traceback(result)


def test_float_wav_is_named(tmp_path: Path) -> None:
    import struct

    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # IEEE float
    data = bytes(3200)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    Path("float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    result = invoke("demo", "--input", "float.wav")
    assert (
        result.exit_code == 2 and "not a PCM WAV file (floating-point or compressed samples)" in result.stderr
    )


def test_a_bad_demo_config_refuses_to_serve(tmp_path: Path) -> None:
    Path("bad.toml").write_text('[tts]\nprovider = "espeak"\nrate_wpm = 5000\n')
    result = invoke("demo", "--config", "bad.toml", "--port", "0")
    assert result.exit_code == 2
    assert "error: bad.toml:3 [tts].rate_wpm: Input should be less than or equal to 450" in result.stderr
    assert "error: bad.toml [stt]: missing" in result.stderr
    assert "open http" not in result.stdout
    assert_no_traceback(result)
