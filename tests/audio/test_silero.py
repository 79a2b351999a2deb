"""Silero model files, the shared session, per-stream state and batching."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from voiceframe.audio import generators as gen
from voiceframe.audio.vad import model_files
from voiceframe.audio.vad.analyzer import VADAnalyzer
from voiceframe.audio.vad.model_files import ModelFileError, ModelFileNotFoundError, silero_vad_path
from voiceframe.audio.vad.silero import SileroBatch, SileroModel, SileroStream, infer_many


def test_found_in_a_wheel_without_importing_it() -> None:
    code = (
        "import sys\n"
        "from voiceframe.audio.vad.model_files import silero_vad_path, smart_turn_path\n"
        "print(silero_vad_path()); print(smart_turn_path())\n"
        "bad = [m for m in ('silero_vad', 'pipecat', 'torch', 'onnxruntime') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    silero, turn = out.split()
    assert silero.endswith("silero_vad.onnx") and Path(silero).stat().st_size > 1_000_000
    assert turn.endswith("smart-turn-v3.2-cpu.onnx")


def test_explicit_path_wins_and_must_exist(tmp_path: Path) -> None:
    real = silero_vad_path()
    copy = tmp_path / "my-vad.onnx"
    copy.write_bytes(real.read_bytes())
    assert silero_vad_path(copy) == copy
    with pytest.raises(ModelFileNotFoundError, match=r"nope\.onnx"):
        silero_vad_path(tmp_path / "nope.onnx")


def test_missing_model_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "package_dirs", lambda package: [])
    with pytest.raises(ModelFileNotFoundError) as info:
        silero_vad_path()
    assert "pip install --no-deps silero-vad" in str(info.value)
    assert "pipecat-ai" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="pip install pipecat-ai"):
        model_files.smart_turn_path()


def test_falls_back_to_pipecat_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    real = model_files.package_dirs
    monkeypatch.setattr(
        model_files, "package_dirs", lambda p: [] if p in ("voiceframe", "silero_vad") else real(p)
    )
    path = silero_vad_path()
    if not path.is_file():
        pytest.skip("pipecat-ai not installed")
    assert path.parts[-5:] == ("pipecat", "audio", "vad", "data", "silero_vad.onnx")


def test_corrupt_model_file_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "silero_vad.onnx"
    bad.write_bytes(silero_vad_path().read_bytes()[:5000])  # a truncated download
    with pytest.raises(ModelFileError, match=re.escape(str(bad))) as info:
        SileroModel.shared(bad)
    assert "reinstall" in str(info.value)
    wrong = tmp_path / "turn.onnx"
    wrong.write_bytes(model_files.smart_turn_path().read_bytes())
    with pytest.raises(ModelFileError, match="wrong model"):
        SileroModel.shared(wrong)


def test_one_shared_session_created_once_across_threads() -> None:
    models: list[SileroModel] = []
    threads = [threading.Thread(target=lambda: models.append(SileroModel.shared())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in models}) == 1
    assert SileroStream().model is models[0] and VADAnalyzer()._stream.model is models[0]


def test_wrong_rate_says_resample() -> None:
    with pytest.raises(ValueError, match=r"44100.*resample to 16000.*voiceframe\.audio\.resample"):
        SileroStream(44100)


def test_streams_keep_separate_state_and_any_frame_size() -> None:
    tone = gen.mix(gen.sine(2.0, freq=220, dbfs=-20), gen.white_noise(2.0, dbfs=-40))
    whole = SileroStream().process(tone.tobytes())
    assert whole.shape == (tone.size // 512,)
    s1, s2 = SileroStream(), SileroStream()
    parts: list[float] = []
    for i in range(0, tone.size, 320):  # interleave two streams, one fed silence
        parts += s1.process(tone[i : i + 320]).tolist()
        s2.process(gen.silence(0.02).tobytes())
    np.testing.assert_allclose(parts, whole, atol=1e-6)


def test_matches_pipecat_model_wrapper() -> None:
    silero = pytest.importorskip("pipecat.audio.vad.silero")
    x = np.concatenate([gen.white_noise(0.5, dbfs=-30), gen.sine(0.5, freq=300)])
    ref_model = silero.SileroOnnxModel(str(silero_vad_path()))
    ref = [ref_model(x[i : i + 512].astype(np.float32) / 32768, 16000)[0, 0] for i in range(0, 7680, 512)]
    np.testing.assert_allclose(SileroStream().process(x[:7680]), ref, atol=1e-6)


def test_infer_many_equals_one_by_one() -> None:
    rng = np.random.default_rng(0)
    signals = [gen.mix(gen.sine(1.0, freq=f, dbfs=-25), gen.white_noise(1.0, dbfs=-45, seed=k))
               for k, f in enumerate((150, 300, 600, 1200, 2400))]  # fmt: skip
    single = [SileroStream() for _ in signals]
    batched = [SileroStream() for _ in signals]
    for i in range(0, 16000 - 511, 512):
        ready = [k for k in range(len(signals)) if rng.random() < 0.8]  # not every stream every time
        w = [signals[k][i : i + 512] for k in ready]
        a = [single[k].score(wk) for k, wk in zip(ready, w, strict=True)]
        b = infer_many([batched[k] for k in ready], w)
        np.testing.assert_allclose(b, a, atol=1e-5)
    with pytest.raises(ValueError, match="once per batch"):
        s = SileroStream()
        infer_many([s, s], [signals[0][:512]] * 2)
    with pytest.raises(ValueError, match="same model and sample rate"):
        infer_many([SileroStream(16000), SileroStream(8000)], [signals[0][:512], signals[0][:256]])


def test_silero_batch_groups_by_rate() -> None:
    batch = SileroBatch()
    s16, s8 = SileroStream(16000), SileroStream(8000)
    w16, w8 = gen.sine(0.032, 16000), gen.sine(0.032, 8000)
    batch.add(s16, w16)
    batch.add(s8, w8)
    assert len(batch) == 2
    out = batch.run()
    assert len(batch) == 0
    np.testing.assert_allclose(out, [SileroStream(16000).score(w16), SileroStream(8000).score(w8)], atol=1e-5)
