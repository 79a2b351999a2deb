"""PCM conversion, channel mixing, re-chunking, volume and test-signal generators."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voiceframe.audio import generators as gen
from voiceframe.audio.pcm import (
    as_int16,
    deinterleave,
    downmix,
    float32_to_int16,
    int16_to_float32,
    interleave,
    require_mono,
    to_bytes,
    upmix,
)
from voiceframe.audio.rechunk import Rechunker
from voiceframe.audio.volume import VolumeMeter, normalized_volume, rms_dbfs


def test_as_int16_is_a_view() -> None:
    buf = bytearray(b"\x01\x00\xff\xff")
    a = as_int16(buf)
    assert a.tolist() == [1, -1]
    buf[0] = 2
    assert a[0] == 2  # no copy
    with pytest.raises(ValueError, match="even number"):
        as_int16(b"\x00")


def test_float_round_trip_is_exact_for_all_int16() -> None:
    x = np.arange(-32768, 32768, dtype=np.int16)
    f = int16_to_float32(x.tobytes())
    assert f.dtype == np.float32 and f.min() == -1.0 and f.max() < 1.0
    assert np.array_equal(float32_to_int16(f), x)


def test_float32_to_int16_clips_and_rounds() -> None:
    out = float32_to_int16(np.array([2.0, -2.0, 0.4 / 32768, 0.6 / 32768], dtype=np.float32))
    assert out.tolist() == [32767, -32768, 0, 1]


def test_int16_to_float32_into_preallocated_buffer() -> None:
    out = np.empty(2, dtype=np.float32)
    res = int16_to_float32(b"\x00\x40\x00\xc0", out=out)
    assert res is out and out.tolist() == [0.5, -0.5]


def test_stereo_downmix_upmix_interleave() -> None:
    left = np.array([100, -32768, 3], dtype=np.int16)
    right = np.array([300, -32768, 4], dtype=np.int16)
    stereo = interleave([left, right])
    assert stereo.tolist() == [100, 300, -32768, -32768, 3, 4]
    assert deinterleave(to_bytes(stereo), 2)[:, 1].tolist() == right.tolist()
    assert downmix(to_bytes(stereo), 2).tolist() == [200, -32768, 4]  # 3.5 rounds up
    assert upmix(left, 2).tolist() == [100, 100, -32768, -32768, 3, 3]
    mono = left.tobytes()
    assert np.shares_memory(downmix(left, 1), left)
    assert downmix(mono, 1).tolist() == left.tolist()
    with pytest.raises(ValueError, match="whole number"):
        deinterleave(b"\x00\x00" * 3, 2)


def test_require_mono_names_the_fix() -> None:
    require_mono(1)
    with pytest.raises(ValueError, match="downmix"):
        require_mono(2)


@pytest.mark.parametrize("block", [1, 7, 320, 641, 5000])
def test_rechunker_yields_fixed_frames_and_flushes(block: int) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    r = Rechunker.for_samples(320)  # 640 bytes
    frames = [f for i in range(0, len(data), block) for f in r.push(data[i : i + block])]
    assert all(len(f) == 640 for f in frames)
    assert len(frames) == 16 and r.pending == 0
    assert b"".join(frames) == data
    assert r.frames(b"abc") == [] and r.pending == 3
    assert r.flush(pad=True) == b"abc" + bytes(637)
    assert r.flush() == b""


def test_rechunker_for_duration() -> None:
    assert Rechunker.for_duration(0.02, 16000).frame_bytes == 640
    assert Rechunker.for_duration(0.02, 48000, num_channels=2).frame_bytes == 3840
    with pytest.raises(ValueError):
        Rechunker(0)


def test_rms_dbfs_and_volume() -> None:
    assert rms_dbfs(gen.silence(0.1)) == -120.0
    assert rms_dbfs(gen.sine(1.0, freq=1000, dbfs=-20)) == pytest.approx(-20.0, abs=0.05)
    assert rms_dbfs(gen.white_noise(1.0, dbfs=-30)) == pytest.approx(-30.0, abs=0.1)
    assert normalized_volume(-50.0) == pytest.approx(0.6)
    assert normalized_volume(-200.0) == 0.0 and normalized_volume(0.0) == 1.0


def test_volume_meter_smooths_exponentially() -> None:
    m = VolumeMeter(factor=0.2, attack=None)
    tone = gen.sine(0.032, dbfs=-30)  # volume 0.8
    values = [m.update(tone) for _ in range(20)]
    assert values[0] == pytest.approx(0.16, abs=0.01)
    assert all(a < b for a, b in itertools.pairwise(values))
    assert values[-1] == pytest.approx(0.8, abs=0.01)
    m.reset()
    assert m.volume == 0.0
    fast = VolumeMeter(factor=0.2, attack=0.5)
    assert fast.update(tone) == pytest.approx(0.4, abs=0.01)
    assert fast.update(gen.silence(0.032)) == pytest.approx(0.32, abs=0.01)  # falls with the slow factor
    with pytest.raises(ValueError):
        VolumeMeter(attack=0.0)


def test_generators_are_deterministic_and_levelled() -> None:
    assert np.array_equal(gen.white_noise(0.5, seed=3), gen.white_noise(0.5, seed=3))
    assert not np.array_equal(gen.white_noise(0.5, seed=3), gen.white_noise(0.5, seed=4))
    clicks = gen.click_train(1.0, rate_hz=4, peak_dbfs=-6)
    assert np.abs(clicks).max() == pytest.approx(32768 * 10 ** (-6 / 20), rel=0.01)
    assert np.count_nonzero(clicks) <= 4 * 32 + 4
    assert np.array_equal(gen.click_train(1.0, jitter=0.2, seed=1), gen.click_train(1.0, jitter=0.2, seed=1))
    assert rms_dbfs(gen.scale_to_dbfs(gen.sine(0.5), -40)) == pytest.approx(-40, abs=0.05)
    mixed = gen.mix(np.full(3, 30000, np.int16), np.full(2, 30000, np.int16), offsets=[0, 2])
    assert mixed.tolist() == [30000, 30000, 32767, 30000]
