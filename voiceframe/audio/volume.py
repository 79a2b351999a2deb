"""Signal level: RMS in dBFS, and a smoothed 0..1 volume used to gate VAD.

The 0..1 scale maps -110..-10 dB linearly, the same range Pipecat normalises its loudness to, so
``min_volume`` values carry over (0.6 is about -50 dBFS). We measure plain RMS per window rather
than BS.1770 loudness over 400 ms: it is ~10x cheaper, and it is defined from the first window.
"""

from __future__ import annotations

import math

import numpy as np

from voiceframe.audio.pcm import PCMLike, as_int16

#: Level reported for digital silence instead of -inf.
FLOOR_DBFS = -120.0
VOLUME_MIN_DB = -110.0
VOLUME_MAX_DB = -10.0


def rms_dbfs(pcm: PCMLike) -> float:
    """RMS level of int16 PCM relative to full scale (a full-scale square wave is 0 dBFS)."""
    samples = as_int16(pcm)
    if samples.size == 0:
        return FLOOR_DBFS
    x = samples.astype(np.float32)
    mean_square = float(np.dot(x, x)) / samples.size
    if mean_square <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 10.0 * math.log10(mean_square / (32768.0 * 32768.0)))


def normalized_volume(dbfs: float) -> float:
    """Map a level in dBFS to 0..1 (-110 dB -> 0, -10 dB -> 1, clipped)."""
    v = (dbfs - VOLUME_MIN_DB) / (VOLUME_MAX_DB - VOLUME_MIN_DB)
    return min(1.0, max(0.0, v))


def exp_smoothing(value: float, previous: float, factor: float) -> float:
    """One step of exponential smoothing; ``factor`` is the weight of the new value."""
    return previous + factor * (value - previous)


class VolumeMeter:
    """Per-stream smoothed volume: feed each analysis window, read the smoothed 0..1 volume."""

    __slots__ = ("factor", "volume")

    def __init__(self, factor: float = 0.2) -> None:
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"smoothing factor must be in (0, 1], got {factor}")
        self.factor = factor
        self.volume = 0.0

    def update(self, pcm: PCMLike) -> float:
        """Add one window and return the new smoothed volume."""
        self.volume = exp_smoothing(normalized_volume(rms_dbfs(pcm)), self.volume, self.factor)
        return self.volume

    def reset(self) -> None:
        """Start again from silence."""
        self.volume = 0.0
