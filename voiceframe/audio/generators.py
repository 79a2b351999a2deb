"""Deterministic test signals as int16 arrays: silence, white noise, click trains, sine tones.

Levels are given in dBFS RMS (a full-scale sine is -3 dBFS). Random signals take a ``seed`` and give
the same samples for the same arguments on every run.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voiceframe.audio.pcm import Int16Array, PCMLike, as_int16


def _num_samples(seconds: float, sample_rate: int) -> int:
    if seconds < 0 or sample_rate <= 0:
        raise ValueError("seconds must be >= 0 and sample_rate > 0")
    return round(seconds * sample_rate)


def _quantise(x: npt.NDArray[np.float64]) -> Int16Array:
    out: Int16Array = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def _rms_amplitude(dbfs: float) -> float:
    return float(32768.0 * 10.0 ** (dbfs / 20.0))


def silence(seconds: float, sample_rate: int = 16000) -> Int16Array:
    """Digital silence."""
    return np.zeros(_num_samples(seconds, sample_rate), dtype=np.int16)


def white_noise(seconds: float, sample_rate: int = 16000, dbfs: float = -30.0, seed: int = 0) -> Int16Array:
    """Gaussian white noise with the given RMS level."""
    rng = np.random.default_rng(seed)
    return _quantise(rng.standard_normal(_num_samples(seconds, sample_rate)) * _rms_amplitude(dbfs))


def sine(seconds: float, sample_rate: int = 16000, freq: float = 440.0, dbfs: float = -20.0) -> Int16Array:
    """A sine tone with the given RMS level."""
    t = np.arange(_num_samples(seconds, sample_rate)) / sample_rate
    return _quantise(np.sin(2 * np.pi * freq * t) * _rms_amplitude(dbfs) * np.sqrt(2.0))


def click_train(
    seconds: float,
    sample_rate: int = 16000,
    rate_hz: float = 4.0,
    peak_dbfs: float = -6.0,
    click_ms: float = 2.0,
    jitter: float = 0.0,
    seed: int = 0,
) -> Int16Array:
    """Short decaying clicks (like keyboard taps) every ``1/rate_hz`` s, optionally jittered."""
    n = _num_samples(seconds, sample_rate)
    out = np.zeros(n, dtype=np.float64)
    rng = np.random.default_rng(seed)
    clen = max(1, round(click_ms * sample_rate / 1000))
    click = rng.standard_normal(clen) * np.exp(-np.arange(clen) / (clen / 4))
    click *= 32768.0 * 10.0 ** (peak_dbfs / 20.0) / np.max(np.abs(click))
    period = sample_rate / rate_hz
    k = 0
    while True:
        start = round(k * period + (rng.uniform(-jitter, jitter) * period if jitter else 0.0))
        if start >= n:
            break
        if start >= 0:
            end = min(n, start + clen)
            out[start:end] += click[: end - start]
        k += 1
    return _quantise(out)


def scale_to_dbfs(pcm: PCMLike, dbfs: float) -> Int16Array:
    """Scale a signal so that its RMS level is ``dbfs`` (silence stays silence)."""
    x = as_int16(pcm).astype(np.float64)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    if rms == 0.0:
        return as_int16(pcm).copy()
    return _quantise(x * (_rms_amplitude(dbfs) / rms))


def mix(*signals: PCMLike, offsets: list[int] | None = None) -> Int16Array:
    """Sum signals (each placed at a sample offset, default 0), clipping to int16."""
    arrays = [as_int16(s) for s in signals]
    offs = offsets or [0] * len(arrays)
    if len(offs) != len(arrays):
        raise ValueError("one offset per signal")
    n = max((o + a.size for o, a in zip(offs, arrays, strict=True)), default=0)
    out = np.zeros(n, dtype=np.int32)
    for o, a in zip(offs, arrays, strict=True):
        out[o : o + a.size] += a
    return np.clip(out, -32768, 32767).astype(np.int16)
