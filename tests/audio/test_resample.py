"""soxr resampling: streaming equals one-shot, rates and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from voiceframe.audio.generators import sine
from voiceframe.audio.resample import StreamResampler, resample
from voiceframe.audio.volume import rms_dbfs


@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (8000, 16000), (22050, 16000), (16000, 24000)])
def test_stream_resampler_output_length_and_level(src: int, dst: int) -> None:
    tone = sine(1.0, src, freq=440, dbfs=-20)
    r = StreamResampler(src, dst)
    chunk = src // 50  # 20 ms chunks
    out = b"".join(r.process(tone[i : i + chunk]) for i in range(0, tone.size, chunk)) + r.flush()
    y = np.frombuffer(out, dtype=np.int16)
    assert abs(y.size - dst) <= 2
    assert rms_dbfs(y[dst // 10 : -dst // 10]) == pytest.approx(-20, abs=0.2)
    once = np.frombuffer(resample(tone, src, dst), dtype=np.int16)
    assert abs(once.size - y.size) <= 2


def test_stream_resampler_keeps_state_per_stream() -> None:
    tone = sine(0.5, 48000, freq=1000)
    a, b = StreamResampler(48000, 16000), StreamResampler(48000, 16000)
    out_a = [a.process(tone[i : i + 960]) for i in range(0, tone.size, 960)]
    # b gets the same audio in other chunk sizes: same output up to int16 rounding inside soxr
    out_b = [b.process(tone[i : i + 1234]) for i in range(0, tone.size, 1234)]
    ya = np.frombuffer(b"".join(out_a) + a.flush(), np.int16).astype(np.int32)
    yb = np.frombuffer(b"".join(out_b) + b.flush(), np.int16).astype(np.int32)
    assert ya.size == yb.size and np.abs(ya - yb).max() <= 2


def test_stereo_and_identity() -> None:
    stereo = np.repeat(sine(0.1, 48000), 2)
    out = resample(stereo, 48000, 16000, num_channels=2)
    assert len(out) == 1600 * 2 * 2
    same = StreamResampler(16000, 16000)
    assert same.process(b"\x01\x00") == b"\x01\x00" and same.flush() == b""


@pytest.mark.parametrize("rate", [0, -16000, 16.0, 16, 10_000_000, True])
def test_bad_rates_raise_value_error(rate: object) -> None:
    with pytest.raises(ValueError, match="in_rate"):
        StreamResampler(rate, 16000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out_rate"):
        resample(b"", 16000, rate)  # type: ignore[arg-type]
