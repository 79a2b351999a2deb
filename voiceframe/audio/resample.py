"""Sample-rate conversion with soxr: a streaming resampler (state per stream) and a one-shot helper.

Both take and return int16 PCM bytes, mono or interleaved multi-channel.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import soxr

from voiceframe.audio.pcm import PCMLike, deinterleave

Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]

#: Rates outside this range are almost certainly a bug (a value in kHz, or bytes per second).
MIN_RATE = 1000
MAX_RATE = 384000


def check_rate(rate: object, name: str = "sample rate") -> int:
    """Return ``rate`` if it is a plausible integer sample rate in Hz, else raise ValueError."""
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise ValueError(f"{name} must be an integer number of Hz, got {rate!r}")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise ValueError(f"{name} must be between {MIN_RATE} and {MAX_RATE} Hz, got {rate}")
    return int(rate)


class StreamResampler:
    """Resample one continuous stream chunk by chunk, keeping the filter state between chunks.

    Output lags input by the filter delay; call :meth:`flush` at the end of the stream to get the tail.
    Use one instance per stream: sharing it between streams would mix their filter histories.
    """

    __slots__ = ("_stream", "in_rate", "num_channels", "out_rate")

    def __init__(self, in_rate: int, out_rate: int, num_channels: int = 1, quality: Quality = "HQ") -> None:
        self.in_rate = check_rate(in_rate, "in_rate")
        self.out_rate = check_rate(out_rate, "out_rate")
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        self.num_channels = num_channels
        self._stream = (
            None
            if self.in_rate == self.out_rate
            else soxr.ResampleStream(
                self.in_rate, self.out_rate, num_channels, dtype="int16", quality=quality
            )
        )

    def process(self, pcm: PCMLike) -> bytes:
        """Resample one chunk; may return fewer (or zero) bytes while the filter fills."""
        return self._run(pcm, last=False)

    def flush(self) -> bytes:
        """Return the samples still held in the filter and reset for a new stream."""
        out = self._run(b"", last=True)
        if self._stream is not None:
            self._stream.clear()
        return out

    def reset(self) -> None:
        """Forget the filter state (e.g. after a discontinuity such as an interruption)."""
        if self._stream is not None:
            self._stream.clear()

    def _run(self, pcm: PCMLike, *, last: bool) -> bytes:
        frames = deinterleave(pcm, self.num_channels)
        if self._stream is None:
            return frames.tobytes()
        x = frames[:, 0] if self.num_channels == 1 else frames
        out: np.ndarray = self._stream.resample_chunk(np.ascontiguousarray(x), last=last)
        return out.tobytes()


def resample(
    pcm: PCMLike, in_rate: int, out_rate: int, num_channels: int = 1, quality: Quality = "HQ"
) -> bytes:
    """Resample a complete signal in one call (no state kept; the whole output is returned)."""
    in_rate = check_rate(in_rate, "in_rate")
    out_rate = check_rate(out_rate, "out_rate")
    frames = deinterleave(pcm, num_channels)
    if in_rate == out_rate or frames.size == 0:
        return frames.tobytes()
    x = frames[:, 0] if num_channels == 1 else frames
    out: np.ndarray = soxr.resample(np.ascontiguousarray(x), in_rate, out_rate, quality=quality)
    return out.tobytes()
