"""ITU-T G.711 mu-law and A-law, vectorised with numpy lookup tables.

Bit-exact with the ITU-T reference / Sun ``g711.c`` (and therefore with the removed ``audioop``
module): encoding truncates 16-bit PCM to 14 bits (mu-law) or 13 bits (A-law) first.
Encoding is one table look-up per sample through a 64 Ki-entry table indexed by the raw 16-bit value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voiceframe.audio.pcm import Int16Array, PCMLike, as_int16

_BIAS = 0x84
_CLIP = 8159
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _ulaw_decode_table() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _BIAS - t, t - _BIAS).astype(np.int16)


def _alaw_decode_table() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _all_int16() -> npt.NDArray[np.int32]:
    # Index i of the encode tables is the int16 whose bit pattern is i (so we can index with a uint16 view).
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, mag)  # first segment whose end >= mag
    uval = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_AEND, mag)
    aval = (seg << 4) | ((mag >> np.where(seg < 2, 1, seg)) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_ENCODE = _alaw_encode_table()


def _codes(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)


def ulaw_encode(pcm: PCMLike) -> bytes:
    """Encode int16 PCM to mu-law bytes (one byte per sample)."""
    return ULAW_ENCODE[as_int16(pcm).view(np.uint16)].tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> bytes:
    """Decode mu-law bytes to int16 PCM bytes."""
    return ULAW_DECODE[_codes(data)].tobytes()


def alaw_encode(pcm: PCMLike) -> bytes:
    """Encode int16 PCM to A-law bytes (one byte per sample)."""
    return ALAW_ENCODE[as_int16(pcm).view(np.uint16)].tobytes()


def alaw_decode(data: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> bytes:
    """Decode A-law bytes to int16 PCM bytes."""
    return ALAW_DECODE[_codes(data)].tobytes()
