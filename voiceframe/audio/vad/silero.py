"""Silero VAD on onnxruntime: one shared session per process, recurrent state per stream.

The model scores windows of 512 samples at 16 kHz (256 at 8 kHz), each prefixed with the last 64 (32)
samples of the previous window, and carries a ``[2, batch, 128]`` recurrent state. The session is
stateless, so every stream in the process shares it; ``infer_many`` scores one window for many
streams in a single ``session.run`` (the model has a batch dimension).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voiceframe.audio.pcm import Float32Array, Int16Array, PCMLike, as_int16
from voiceframe.audio.rechunk import Rechunker
from voiceframe.audio.vad.model_files import (
    SILERO_VAD_INSTALL,
    SharedSessions,
    load_onnx_session,
    silero_vad_path,
)

SUPPORTED_RATES = (16000, 8000)
WINDOW_SAMPLES = {16000: 512, 8000: 256}
CONTEXT_SAMPLES = {16000: 64, 8000: 32}
_INPUTS = ("input", "state", "sr")
_SCALE = np.float32(1.0 / 32768.0)

_sessions = SharedSessions()


def check_sample_rate(sample_rate: int) -> int:
    """Return ``sample_rate`` if Silero supports it, else raise a ValueError that names the fix."""
    if sample_rate not in SUPPORTED_RATES:
        raise ValueError(
            f"Silero VAD runs at 16000 or 8000 Hz, got {sample_rate}: resample to 16000 (or 8000) first, "
            f"e.g. voiceframe.audio.resample.StreamResampler({sample_rate}, 16000)"
        )
    return sample_rate


class SileroModel:
    """The process-wide Silero session. Get it with :meth:`shared`; it is safe to use from any thread."""

    __slots__ = ("path", "session")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session: Any = load_onnx_session(path, _INPUTS, SILERO_VAD_INSTALL)

    @classmethod
    def shared(cls, path: str | Path | None = None) -> SileroModel:
        """The one model for ``path`` (default: the file found in an installed wheel), created lazily."""
        model: SileroModel = _sessions.get(silero_vad_path(path), cls)
        return model

    def run(
        self, x: Float32Array, state: Float32Array, sr: npt.NDArray[np.int64]
    ) -> tuple[Float32Array, Float32Array]:
        """Raw call: ``x`` is ``[batch, context + window]``; returns probabilities ``[batch]``, new state."""
        out, new_state = self.session.run(None, {"input": x, "state": state, "sr": sr})
        return out[:, 0], new_state


class SileroStream:
    """Recurrent state and context of one audio stream; scores windows with the shared model."""

    __slots__ = ("_chunker", "_sr", "_state", "_x", "context", "model", "sample_rate", "window")

    def __init__(self, sample_rate: int = 16000, model: SileroModel | None = None) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        self.model = model or SileroModel.shared()
        self.window = WINDOW_SAMPLES[sample_rate]
        self.context = CONTEXT_SAMPLES[sample_rate]
        self._sr = np.array(sample_rate, dtype=np.int64)
        # Model input buffer reused for every window: [context | window], context = previous tail.
        self._x = np.zeros((1, self.context + self.window), dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._chunker = Rechunker(self.window * 2)

    def reset(self) -> None:
        """Forget the recurrent state and context (keeps any buffered partial window)."""
        self._x.fill(0.0)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)

    def _load(self, window: Int16Array) -> None:
        x = self._x
        if window.size != self.window:
            raise ValueError(f"expected {self.window} samples per window at {self.sample_rate} Hz")
        x[0, : self.context] = x[0, -self.context :]
        np.multiply(window, _SCALE, out=x[0, self.context :], dtype=np.float32)

    def score(self, window: PCMLike) -> float:
        """Speech probability of exactly one window (512 samples at 16 kHz, 256 at 8 kHz)."""
        self._load(as_int16(window))
        probs, self._state = self.model.run(self._x, self._state, self._sr)
        return float(probs[0])

    def process(self, pcm: PCMLike) -> Float32Array:
        """Buffer PCM of any length; return the probability of every window completed by it."""
        data = pcm.tobytes() if isinstance(pcm, np.ndarray) else pcm
        probs = [self.score(w) for w in self._chunker.push(data)]
        return np.array(probs, dtype=np.float32)


def infer_many(streams: Sequence[SileroStream], windows: Sequence[PCMLike]) -> Float32Array:
    """Score one window for each stream with a single ``session.run``; updates each stream's state.

    All streams must share one model and one sample rate. Equivalent to
    ``[s.score(w) for s, w in zip(streams, windows)]`` (to float rounding), but cheaper per stream
    for batches of a few streams or more (see ``benchmarks/vad.py``).
    """
    n = len(streams)
    if n != len(windows):
        raise ValueError("one window per stream")
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    first = streams[0]
    if n == 1:
        return np.array([first.score(windows[0])], dtype=np.float32)
    ctx, win = first.context, first.window
    if any(s.model is not first.model or s.sample_rate != first.sample_rate for s in streams):
        raise ValueError("infer_many needs streams with the same model and sample rate")
    if len({id(s) for s in streams}) != n:
        raise ValueError("a stream can appear only once per batch: its next window depends on this one")
    x = np.empty((n, ctx + win), dtype=np.float32)
    for i, (s, w) in enumerate(zip(streams, windows, strict=True)):
        s._load(as_int16(w))
        x[i] = s._x[0]
    state = np.concatenate([s._state for s in streams], axis=1)
    probs, new_state = first.model.run(x, state, first._sr)
    for i, s in enumerate(streams):
        # Copy: a strided slice of the batch state would keep the whole batch alive and is not contiguous.
        s._state = new_state[:, i : i + 1, :].copy()
    return np.ascontiguousarray(probs, dtype=np.float32)


class SileroBatch:
    """Collects windows from many streams and scores them together in :meth:`run`."""

    __slots__ = ("_streams", "_windows")

    def __init__(self) -> None:
        self._streams: list[SileroStream] = []
        self._windows: list[PCMLike] = []

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, stream: SileroStream, window: PCMLike) -> int:
        """Queue one window for ``stream``; returns its index in the result of :meth:`run`."""
        self._streams.append(stream)
        self._windows.append(window)
        return len(self._streams) - 1

    def run(self) -> Float32Array:
        """Score every queued window (one ``session.run`` per model and sample rate) and clear the batch."""
        streams, windows = self._streams, self._windows
        self._streams, self._windows = [], []
        out = np.zeros(len(streams), dtype=np.float32)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, s in enumerate(streams):
            groups.setdefault((id(s.model), s.sample_rate), []).append(i)
        for idx in groups.values():
            out[idx] = infer_many([streams[i] for i in idx], [windows[i] for i in idx])
        return out
