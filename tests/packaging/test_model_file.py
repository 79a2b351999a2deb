"""The Silero VAD model ships inside voiceframe; the other wheels' copies and an explicit path still work."""

from __future__ import annotations

from pathlib import Path

import pytest

import voiceframe
from voiceframe.audio.vad import model_files
from voiceframe.audio.vad.model_files import ModelFileNotFoundError, silero_vad_path

DATA = Path(voiceframe.__file__).parent / "audio" / "vad" / "data"


def test_the_shipped_copy_comes_first_with_its_licence() -> None:
    path = silero_vad_path()
    assert path == DATA / "silero_vad.onnx"
    assert path.stat().st_size == 2_327_524
    licence = (DATA / "LICENSE-silero-vad.txt").read_text()
    assert "MIT License" in licence and "Silero Team" in licence


def test_other_wheels_copies_are_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    real = model_files.package_dirs
    monkeypatch.setattr(model_files, "package_dirs", lambda p: [] if p == "voiceframe" else real(p))
    try:
        path = silero_vad_path()
    except ModelFileNotFoundError:
        pytest.skip("neither silero-vad nor pipecat-ai is installed")
    assert path.name == "silero_vad.onnx" and path.parent != DATA
    assert path.read_bytes() == (DATA / "silero_vad.onnx").read_bytes()


def test_explicit_path_wins(tmp_path: Path) -> None:
    copy = tmp_path / "mine.onnx"
    copy.write_bytes((DATA / "silero_vad.onnx").read_bytes())
    assert silero_vad_path(copy) == copy


def test_missing_everywhere_says_to_reinstall_voiceframe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "package_dirs", lambda p: [])
    with pytest.raises(ModelFileNotFoundError) as info:
        silero_vad_path()
    message = str(info.value)
    assert "voiceframe/audio/vad/data/silero_vad.onnx" in message
    assert "pip install --force-reinstall voiceframe" in message
