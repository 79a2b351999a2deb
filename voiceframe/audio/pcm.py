"""int16 PCM <-> float32 conversion and channel mixing.

All functions take ``bytes``-like objects or numpy arrays. Inputs are viewed with ``np.frombuffer``
(no copy); a new array is allocated only when the result has a different dtype or shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Int16Array: TypeAlias = npt.NDArray[np.int16]
Float32Array: TypeAlias = npt.NDArray[np.float32]
PCMLike: TypeAlias = bytes | bytearray | memoryview | Int16Array

_SCALE = np.float32(1.0 / 32768.0)


def as_int16(pcm: PCMLike) -> Int16Array:
    """View int16 PCM as a numpy array without copying (read-only if ``pcm`` is ``bytes``)."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16:
            raise TypeError(f"expected int16 samples, got {pcm.dtype}")
        return pcm
    if len(pcm) % 2:
        raise ValueError(f"int16 PCM must have an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype=np.int16)


def int16_to_float32(pcm: PCMLike, out: Float32Array | None = None) -> Float32Array:
    """Convert int16 PCM to float32 in [-1, 1). One allocation (or none with ``out``)."""
    samples = as_int16(pcm)
    return np.multiply(samples, _SCALE, out=out, dtype=np.float32)


def float32_to_int16(samples: npt.ArrayLike) -> Int16Array:
    """Convert float audio in [-1, 1] to int16, rounding to nearest and clipping out-of-range values."""
    x = np.asarray(samples, dtype=np.float32) * np.float32(32768.0)
    np.rint(x, out=x)
    np.clip(x, -32768, 32767, out=x)
    return x.astype(np.int16)


def to_bytes(samples: Int16Array) -> bytes:
    """Serialise int16 samples (native little-endian on every supported platform)."""
    return np.ascontiguousarray(samples, dtype=np.int16).tobytes()


def check_channels(num_channels: int) -> None:
    """Reject a channel count that is not a positive integer."""
    if not isinstance(num_channels, int) or num_channels < 1:
        raise ValueError(f"num_channels must be a positive integer, got {num_channels!r}")


def require_mono(num_channels: int, what: str = "this analyzer") -> None:
    """Raise a ValueError that names the fix when ``num_channels`` is not 1."""
    if num_channels != 1:
        raise ValueError(
            f"{what} needs mono audio, got {num_channels} channels; "
            "convert with voiceframe.audio.pcm.downmix(pcm, num_channels)"
        )


def deinterleave(pcm: PCMLike, num_channels: int) -> Int16Array:
    """View interleaved PCM as a ``(frames, channels)`` array (no copy)."""
    check_channels(num_channels)
    samples = as_int16(pcm)
    if samples.size % num_channels:
        raise ValueError(f"{samples.size} samples is not a whole number of {num_channels}-channel frames")
    return samples.reshape(-1, num_channels)


def interleave(channels: Sequence[PCMLike]) -> Int16Array:
    """Interleave equally long mono channels into one ``[c0, c1, ..., c0, c1, ...]`` array."""
    if not channels:
        raise ValueError("need at least one channel")
    arrays = [as_int16(c) for c in channels]
    if len({a.size for a in arrays}) != 1:
        raise ValueError("channels must have the same number of samples")
    return np.stack(arrays, axis=1).reshape(-1)


def downmix(pcm: PCMLike, num_channels: int) -> Int16Array:
    """Average interleaved channels into mono (rounded to nearest). Mono input is returned as a view."""
    frames = deinterleave(pcm, num_channels)
    if num_channels == 1:
        return frames.reshape(-1)
    # Sum in int32 so that loud channels cannot overflow before the division.
    total = frames.sum(axis=1, dtype=np.int32)
    mean: npt.NDArray[np.int32] = np.floor_divide(2 * total + num_channels, 2 * num_channels)
    return mean.astype(np.int16)


def upmix(pcm: PCMLike, num_channels: int) -> Int16Array:
    """Duplicate mono samples into ``num_channels`` interleaved channels."""
    check_channels(num_channels)
    samples = as_int16(pcm)
    if num_channels == 1:
        return samples
    return np.repeat(samples, num_channels)
