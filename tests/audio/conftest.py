"""Fixtures: real speech made with espeak-ng during the test run (no recorded audio in the repo).

Speech comes from ``_espeak_synth.py`` run in a fresh subprocess (byte-identical output every run),
at 22050 Hz, resampled to 16 kHz with voiceframe.audio.resample. When the espeak plugin's engine
(plugins/espeak) is available this can switch to it; the fixture's interface stays the same.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voiceframe.audio.generators import scale_to_dbfs
from voiceframe.audio.pcm import Int16Array
from voiceframe.audio.resample import resample

ESPEAK_RATE = 22050
#: amplitude below which espeak's own leading/trailing samples count as silence
TRIM_THRESHOLD = 64

#: Every sentence the tests use, synthesised in one subprocess.
SENTENCES = [
    "Hello there, I would like to book a table for two people tonight.",
    "Could you tell me what the weather will be like tomorrow morning?",
    "Please remind me to call my sister at six.",
    "The quick brown fox jumps over the lazy dog.",
]


def synthesize(texts: list[str]) -> list[Int16Array]:
    """Speak each text with espeak-ng; returns int16 arrays at 22050 Hz."""
    script = Path(__file__).with_name("_espeak_synth.py")
    proc = subprocess.run(
        [sys.executable, str(script)], input=json.dumps(texts).encode(), capture_output=True, check=True
    )
    out, pos = [], 0
    for _ in texts:
        (n,) = struct.unpack_from("<I", proc.stdout, pos)
        pos += 4
        out.append(np.frombuffer(proc.stdout[pos : pos + n], dtype=np.int16).copy())
        pos += n
    return out


def trim(x: Int16Array) -> Int16Array:
    """Cut leading and trailing near-silence so that sample 0 is the true speech onset."""
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > TRIM_THRESHOLD)
    return x[loud[0] : loud[-1] + 1] if loud.size else x[:0]


class Speech:
    """Trimmed espeak speech at 16 kHz (or 8 kHz), normalised to -20 dBFS RMS, cached per text."""

    def __init__(self) -> None:
        self._raw: dict[str, Int16Array] = {}

    def _ensure(self, texts: list[str]) -> None:
        missing = [t for t in texts if t not in self._raw]
        if missing:
            self._raw.update(zip(missing, synthesize(missing), strict=True))

    def __call__(self, text: str, sample_rate: int = 16000, dbfs: float = -20.0) -> Int16Array:
        self._ensure([*SENTENCES, text] if not self._raw else [text])
        pcm = resample(self._raw[text], ESPEAK_RATE, sample_rate)
        return scale_to_dbfs(trim(np.frombuffer(pcm, dtype=np.int16)), dbfs)


@pytest.fixture(scope="session")
def speech() -> Callable[..., Int16Array]:
    if importlib.util.find_spec("espeakng_loader") is None:
        pytest.skip("espeak-ng speech needs the espeakng-loader wheel: pip install espeakng-loader")
    return Speech()
