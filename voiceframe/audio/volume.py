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
    """Per-stream smoothed volume: feed each analysis window, read the smoothed 0..1 volume.

    Smoothing is asymmetric: rising levels use ``attack`` and falling levels ``factor``. A symmetric
    0.2 per 32 ms window (Pipecat's) needs ~7 windows to climb from silence past 0.6, which delays
    speech onset by ~200 ms; a fast attack removes that delay, while the slow release still keeps the
    gate open through the short dips between words. Transients such as clicks that open the volume
    gate do not start speech: the model's confidence must agree.
    """

    __slots__ = ("attack", "factor", "volume")

    def __init__(self, factor: float = 0.2, attack: float | None = 0.5) -> None:
        for name, value in (("factor", factor), ("attack", factor if attack is None else attack)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"smoothing {name} must be in (0, 1], got {value}")
        self.factor = factor
        self.attack = factor if attack is None else attack
        self.volume = 0.0

    def update(self, pcm: PCMLike) -> float:
        """Add one window and return the new smoothed volume."""
        level = normalized_volume(rms_dbfs(pcm))
        self.volume = exp_smoothing(level, self.volume, self.attack if level > self.volume else self.factor)
        return self.volume

    def reset(self) -> None:
        """Start again from silence."""
        self.volume = 0.0
