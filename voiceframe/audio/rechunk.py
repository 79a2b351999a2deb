"""Re-chunk a stream of PCM byte blocks of any size into fixed-size frames."""

from __future__ import annotations

from collections.abc import Iterator


class Rechunker:
    """Collects byte blocks and yields fixed-size frames; :meth:`flush` returns the remainder.

    Frames are whole multiples of ``frame_bytes``; the buffer is compacted lazily so that pushing many
    small blocks stays linear in the number of bytes.
    """

    __slots__ = ("_buf", "_pos", "frame_bytes")

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes < 1:
            raise ValueError(f"frame_bytes must be >= 1, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._buf = bytearray()
        self._pos = 0

    @classmethod
    def for_samples(cls, samples: int, num_channels: int = 1, sample_width: int = 2) -> Rechunker:
        """Frames of ``samples`` samples per channel."""
        if samples < 1 or num_channels < 1 or sample_width < 1:
            raise ValueError("samples, num_channels and sample_width must be >= 1")
        return cls(samples * num_channels * sample_width)

    @classmethod
    def for_duration(cls, seconds: float, sample_rate: int, num_channels: int = 1) -> Rechunker:
        """Frames of ``seconds`` of int16 audio (rounded to whole samples)."""
        return cls.for_samples(round(seconds * sample_rate), num_channels)

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet make a full frame."""
        return len(self._buf) - self._pos

    def push(self, data: bytes | bytearray | memoryview) -> Iterator[bytes]:
        """Add ``data`` and yield every complete frame now available (consume the iterator)."""
        self._buf += data
        n = self.frame_bytes
        while len(self._buf) - self._pos >= n:
            frame = bytes(self._buf[self._pos : self._pos + n])
            self._pos += n
            yield frame
        # Compact once per push, not per frame: one memmove of the (short) remainder.
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0

    def frames(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Like :meth:`push` but returns a list."""
        return list(self.push(data))

    def flush(self, pad: bool = False) -> bytes:
        """Return the buffered remainder (zero-padded to a full frame if ``pad``) and clear the buffer."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        if pad and rest:
            rest += bytes(self.frame_bytes - len(rest))
        return rest

    def clear(self) -> None:
        """Drop buffered bytes."""
        self._buf.clear()
        self._pos = 0
