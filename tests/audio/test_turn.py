"""Smart Turn v3 features and predictions on espeak-ng speech; the transcript signal.

The sentences were picked by measuring (the model is right on only ~64 % of espeak items and is
sensitive to trailing silence): for both pairs below, the unfinished prefix scored < 0.3 and the
finished sentence > 0.8 for every trailing silence from 0.10 to 0.30 s when we chose them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voiceframe.audio import generators as gen
from voiceframe.audio.pcm import Int16Array, int16_to_float32
from voiceframe.audio.resample import resample
from voiceframe.audio.turn.smart_turn import SmartTurnModel, log_mel, mel_filterbank
from voiceframe.audio.turn.transcript_signal import combine, transcript_signal
from voiceframe.audio.vad.model_files import ModelFileError, ModelFileNotFoundError

Speak = Callable[..., Int16Array]
TRAILING_SILENCE = 0.2  # what a VAD with stop_secs 0.2 hands to the model
PAIRS = [
    ("I need to talk to someone about my", "I need to talk to someone about my bill."),
    ("So the thing is, um", "Set an alarm for seven in the morning."),
]


def test_mel_filterbank_is_slaney() -> None:
    fb = mel_filterbank()
    assert fb.shape == (201, 80)
    # Slaney normalisation: every triangle has the same area (2 / bandwidth in Hz * bandwidth / 2 = 1 per Hz)
    areas = fb.sum(axis=0) * (8000 / 200)
    np.testing.assert_allclose(areas[5:], 1.0, rtol=0.2)
    assert np.all(np.argmax(fb, axis=0)[1:] >= np.argmax(fb, axis=0)[:-1])


def test_features_match_pipecat_numerically() -> None:
    ref = pytest.importorskip("pipecat.audio.turn.smart_turn._whisper_features")
    rng = np.random.default_rng(1)
    for n in (16000, 128000, 150000):
        audio = (rng.standard_normal(n) * 0.05).astype(np.float32)
        window = audio[-128000:] if n >= 128000 else np.pad(audio, (128000 - n, 0))
        expected = ref.compute_whisper_log_mel_features(window)
        got = log_mel(audio)
        assert got.shape == (80, 800) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)


def _turn(speech: Speak, text: str) -> Int16Array:
    return np.concatenate([gen.silence(0.3), speech(text), gen.silence(TRAILING_SILENCE)])


@pytest.mark.parametrize(("unfinished", "finished"), PAIRS)
def test_unfinished_vs_finished_sentence(speech: Speak, unfinished: str, finished: str) -> None:
    model = SmartTurnModel.shared()
    p_unfinished = model.predict(_turn(speech, unfinished))
    p_finished = model.predict(_turn(speech, finished))
    print(f"Smart Turn: {unfinished!r} -> {p_unfinished:.3f}; {finished!r} -> {p_finished:.3f}")
    assert p_unfinished < 0.5 < p_finished


def test_predict_accepts_float_and_other_rates(speech: Speak) -> None:
    model = SmartTurnModel.shared()
    x = _turn(speech, PAIRS[0][1])
    p = model.predict(x.tobytes())
    assert model.predict(int16_to_float32(x)) == pytest.approx(p, abs=1e-6)
    x8 = np.frombuffer(resample(x, 16000, 8000), np.int16)
    print(f"Smart Turn at 8 kHz input: {model.predict(x8, sample_rate=8000):.3f} (16 kHz: {p:.3f})")
    with pytest.raises(ValueError, match="downmix"):
        model.predict(np.zeros((2, 16000), dtype=np.int16))


def test_model_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFoundError, match=r"missing\.onnx"):
        SmartTurnModel.shared(tmp_path / "missing.onnx")
    bad = tmp_path / "smart-turn.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match=re.escape(str(bad))):
        SmartTurnModel.shared(bad)


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("I would like a pizza with", -1),
        ("Can you book me a flight to", -1),
        ("I was going to say that and", -1),
        ("Let me think, um", -1),
        ("So", -1),
        ("I'd like to order the", -1),
        ("My number is five five five", -1),
        ("It costs twenty point", -1),
        ("I want to cancel my", -1),
        ("well I was thinking...", -1),
        ("What time is it?", 1),
        ("Thanks, bye!", 1),
        ("That's all", 1),
        ("Thank you very much.", 1),
        ("I'm doing well.", 1),
        ("I know who you are.", 1),
        ("The meeting is at five.", 1),
        ("", 0),
        ("okay so the plan is we go there", 0),
    ],
)
def test_transcript_signal(text: str, sign: int) -> None:
    s = transcript_signal(text)
    assert -1.0 <= s <= 1.0
    assert np.sign(s) == sign, (text, s)


def test_combine() -> None:
    assert combine(0.7, 0.0) == pytest.approx(0.7)
    assert combine(0.9, transcript_signal("I want to go to")) < 0.5
    assert combine(0.3, transcript_signal("Thanks, that's all.")) > 0.5
    assert 0.0 < combine(0.0, -1.0) < combine(1.0, 1.0) < 1.0
    with pytest.raises(ValueError):
        combine(1.5, 0.0)
    with pytest.raises(ValueError):
        combine(0.5, 2.0)
