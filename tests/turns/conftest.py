"""Fixtures for turn-taking tests: espeak-ng speech made in the test run.

espeak-ng keeps random state across calls in one process, so the audio of a sentence depends on what
was synthesised before it in the same process. Smart Turn is sensitive to such small differences
(FACTS.md), so :func:`speak_batch` synthesises a fixed tuple of sentences in one fresh process: the
audio then depends only on that tuple, whatever tests ran before.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable

import numpy as np
import pytest

from tests.audio.conftest import ESPEAK_RATE, speech, synthesize, trim
from voiceframe.audio.generators import scale_to_dbfs
from voiceframe.audio.pcm import Int16Array
from voiceframe.audio.resample import resample

__all__ = ["speak", "speech"]

SpeakBatch = Callable[[tuple[str, ...]], list[Int16Array]]


@functools.cache
def speak_batch(texts: tuple[str, ...]) -> list[Int16Array]:
    """Trimmed 16 kHz speech at -20 dBFS for each text, synthesised together in one fresh process."""
    out = []
    for raw in synthesize(list(texts)):
        pcm = np.frombuffer(resample(raw, ESPEAK_RATE, 16000), dtype=np.int16)
        out.append(scale_to_dbfs(trim(pcm), -20.0))
    return out


@pytest.fixture(scope="session")
def speak() -> SpeakBatch:
    if importlib.util.find_spec("espeakng_loader") is None:
        pytest.skip("espeak-ng speech needs the espeakng-loader wheel: pip install espeakng-loader")
    return speak_batch
