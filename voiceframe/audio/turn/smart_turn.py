"""Smart Turn v3: probability that the user's turn is complete, from the last 8 s of their audio.

The ONNX model (int8, shipped in the pipecat-ai wheel) takes Whisper-style log-mel features
``[batch, 80, 800]``. Feature extraction is numpy only and matches Pipecat's vendored copy of the
``transformers`` Whisper extractor (tested to float32 rounding): audio left-padded with zeros (or cut
to its last 8 s), normalised to zero mean and unit variance, centred STFT (n_fft 400, hop 160, periodic
Hann, reflect padding), power, 80 Slaney mel filters, log10, dynamic range 8, ``(x + 4) / 4``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from voiceframe.audio.pcm import Float32Array, Int16Array, float32_to_int16, int16_to_float32
from voiceframe.audio.resample import resample
from voiceframe.audio.vad.model_files import (
    SMART_TURN_INSTALL,
    SharedSessions,
    load_onnx_session,
    smart_turn_path,
)

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
WINDOW_SECS = 8
WINDOW_SAMPLES = WINDOW_SECS * SAMPLE_RATE
N_FRAMES = WINDOW_SAMPLES // HOP  # 800

Float64Array = npt.NDArray[np.float64]
_sessions = SharedSessions()


def hz_to_mel(freq: Float64Array) -> Float64Array:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (as librosa/Whisper, htk=False)."""
    f = np.asarray(freq, dtype=np.float64)
    log_step = 27.0 / np.log(6.4)
    with np.errstate(divide="ignore"):
        log_part = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) * log_step
    out: Float64Array = np.where(f >= 1000.0, log_part, 3.0 * f / 200.0)
    return out


def mel_to_hz(mels: Float64Array) -> Float64Array:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    out: Float64Array = np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)
    return out


def mel_filterbank(
    n_fft: int = N_FFT, n_mels: int = N_MELS, sample_rate: int = SAMPLE_RATE, fmax: float | None = None
) -> Float64Array:
    """Triangular Slaney-normalised (constant area) mel filters, shape ``[n_fft // 2 + 1, n_mels]``."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    mel_edges = np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(fmax)), n_mels + 2)
    edges = mel_to_hz(mel_edges)
    fft_freqs = np.linspace(0.0, sample_rate // 2, n_fft // 2 + 1)
    slopes = edges[None, :] - fft_freqs[:, None]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    filters *= 2.0 / (edges[2:] - edges[:-2])  # Slaney: each filter has unit area
    return filters


_MEL = mel_filterbank().T.copy()  # [80, 201]
_HANN = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window


def fit_window(audio: Float32Array) -> Float32Array:
    """Keep the last 8 s, or left-pad with zeros to 8 s (the model sees the end of the turn)."""
    if audio.size >= WINDOW_SAMPLES:
        return audio[-WINDOW_SAMPLES:]
    return np.pad(audio, (WINDOW_SAMPLES - audio.size, 0))


def log_mel(audio: Float32Array) -> Float32Array:
    """Whisper log-mel features ``[80, 800]`` of 8 s of 16 kHz float audio (see module docstring)."""
    x = np.asarray(fit_window(np.asarray(audio, dtype=np.float32)), dtype=np.float32)
    # Normalise in float32 (like the reference) before the float64 spectrogram.
    x = (x - x.mean()) / np.sqrt(x.var() + np.float32(1e-7))
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    spec = np.fft.rfft(frames * _HANN, axis=-1)
    power = spec.real**2 + spec.imag**2
    mel = np.maximum(1e-10, _MEL @ power.T)
    logs = np.log10(mel)[:, :-1]  # the reference drops the last of the 801 frames
    logs = np.maximum(logs, logs.max() - 8.0)
    out: Float32Array = ((logs + 4.0) / 4.0).astype(np.float32)
    return out


class SmartTurnModel:
    """Smart Turn v3 on onnxruntime; one session per process (see :meth:`shared`), thread-safe."""

    __slots__ = ("path", "session")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session: Any = load_onnx_session(path, ("input_features",), SMART_TURN_INSTALL)

    @classmethod
    def shared(cls, path: str | Path | None = None) -> SmartTurnModel:
        """The one model for ``path`` (default: the file in the pipecat-ai wheel), created lazily."""
        model: SmartTurnModel = _sessions.get(smart_turn_path(path), cls)
        return model

    def predict_features(self, features: Float32Array) -> Float32Array:
        """Probabilities for a batch of features ``[batch, 80, 800]``."""
        (out,) = self.session.run(None, {"input_features": features})
        probs: Float32Array = np.asarray(out, dtype=np.float32).reshape(-1)
        return probs

    def predict(self, audio: Int16Array | Float32Array | bytes, sample_rate: int = SAMPLE_RATE) -> float:
        """Probability (0..1) that the turn ending with ``audio`` is complete.

        ``audio`` is mono int16 PCM (bytes or array) or float32 in [-1, 1], any length (the last 8 s
        are used). Other sample rates are resampled to 16 kHz.
        """
        x = _to_float(audio, sample_rate)
        return float(self.predict_features(log_mel(x)[None])[0])


def _to_float(audio: Int16Array | Float32Array | bytes, sample_rate: int) -> Float32Array:
    if isinstance(audio, np.ndarray) and audio.ndim != 1:
        raise ValueError(
            f"Smart Turn needs mono 1-D audio, got shape {audio.shape}; use voiceframe.audio.pcm.downmix"
        )
    pcm: Int16Array | bytes
    if isinstance(audio, np.ndarray) and audio.dtype == np.float32:
        if sample_rate == SAMPLE_RATE:
            return audio.astype(np.float32, copy=False)
        pcm = float32_to_int16(audio)
    else:
        pcm = audio.astype(np.int16, copy=False) if isinstance(audio, np.ndarray) else audio
    if sample_rate != SAMPLE_RATE:
        pcm = resample(pcm, sample_rate, SAMPLE_RATE)
    return int16_to_float32(pcm)
