"""Offline text-to-speech with espeak-ng, with a start and end time for every word.

This module drives ``libespeak-ng`` from the ``espeakng-loader`` wheel through ctypes (no apt
package, no network). espeak-ng is GPL-3.0-or-later, and so is this plugin
(``voiceframe-espeak``); it is kept out of the BSD-licensed ``voiceframe`` core for that reason.

Example::

    engine = EspeakEngine(voice="en-us", rate_wpm=175)
    result = engine.synthesize("Hello there, how can I help?")
    result.audio, result.sample_rate   # int16 mono PCM at 22050 Hz
    result.words[0]                    # WordTiming(word='Hello', start_s=0.0, end_s=0.29)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._native import LOCK, EspeakError, Settings, VoiceInfo, native
from .sentences import split_sentences
from .words import WordTiming, align_words

__all__ = [
    "EspeakEngine",
    "EspeakError",
    "Synthesis",
    "VoiceInfo",
    "WordTiming",
    "check_voice",
    "is_deterministic",
    "list_voices",
    "speak_to_pcm",
]


@dataclass(frozen=True, slots=True)
class Synthesis:
    """Speech for one piece of text: int16 mono PCM and one timing per input word."""

    text: str
    audio: bytes
    sample_rate: int
    words: list[WordTiming]

    @property
    def num_samples(self) -> int:
        return len(self.audio) // 2

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def resampled(self, sample_rate: int) -> Synthesis:
        """The same speech at another rate (soxr, high quality, no dither); word times keep."""
        if sample_rate == self.sample_rate:
            return self
        return Synthesis(self.text, _resample(self.audio, self.sample_rate, sample_rate), sample_rate,
                         self.words)


def _resample(audio: bytes, rate_in: int, rate_out: int) -> bytes:
    import soxr  # imported here so plain synthesis does not pay for it

    if rate_out <= 0:
        raise ValueError(f"sample rate must be positive, got {rate_out}")
    x = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
    # Float in and out, then round ourselves: soxr's int16 output path may dither, which would
    # make the bytes vary between runs.
    y = soxr.resample(x, rate_in, rate_out, quality="HQ")
    pcm: bytes = np.clip(np.rint(y * 32768.0), -32768, 32767).astype("<i2").tobytes()
    return pcm


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


class EspeakEngine:
    """Synthesises speech with one voice and one set of settings.

    Any number of engines may exist; they share the single espeak-ng instance of the process,
    and calls from several threads are serialised by one lock (a sentence takes a few ms).
    """

    def __init__(self, voice: str = "en-us", rate_wpm: int = 175, pitch: int = 50, volume: int = 100,
                 seed: int = 1) -> None:
        """``voice`` is a voice name, identifier or language tag ("en-us", "en", "en-gb", "fr").

        ``rate_wpm`` is 80..450 words per minute, ``pitch`` 0..99, ``volume`` 0..200 (100 is
        normal); ``seed`` seeds espeak's noise so output is reproducible.
        """
        _check_range("rate_wpm", rate_wpm, 80, 450)
        _check_range("pitch", pitch, 0, 99)
        _check_range("volume", volume, 0, 200)
        with LOCK:
            lib = native()
            resolved = lib.resolve_voice(voice)
            self._sample_rate = lib.sample_rate
        self._settings = Settings(resolved, rate_wpm, pitch, volume)
        self._seed = seed
        self.voice = voice

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (22050 for espeak-ng's own voices)."""
        return self._sample_rate

    def synthesize(self, text: str) -> Synthesis:
        """Speak ``text`` in one go; word times are seconds from the start of ``audio``."""
        clean = text.replace("\0", " ")
        if not clean.strip():
            return Synthesis(text, b"", self._sample_rate, [])
        with LOCK:
            raw = native().synth(clean, self._settings, self._seed)
        words = align_words(clean, raw.word_events, len(raw.audio) // 2, self._sample_rate)
        return Synthesis(text, raw.audio, self._sample_rate, words)

    def synthesize_sentences(self, text: str) -> Iterator[Synthesis]:
        """Speak ``text`` one sentence at a time, for streaming.

        Each result's ``text`` is the sentence and its word times start at 0 with its own audio.
        The lock is released between sentences, so a consumer that stops iterating (for example
        on an interruption) costs at most one sentence of work.
        """
        for sentence in split_sentences(text):
            yield self.synthesize(sentence)


def check_voice(voice: str) -> str:
    """The name espeak-ng uses for ``voice``; an unknown one is a ValueError with close matches."""
    with LOCK:
        return native().resolve_voice(voice)


def list_voices() -> list[VoiceInfo]:
    """All voices in the bundled espeak-ng data."""
    with LOCK:
        return list(native().voices())


def is_deterministic() -> bool:
    """Whether equal requests give byte-identical audio within this process (see ``_native``)."""
    with LOCK:
        return native().deterministic


def speak_to_pcm(text: str, sample_rate: int = 16000, voice: str = "en-us", rate_wpm: int = 175,
                 pitch: int = 50) -> bytes:
    """Real speech for tests and demos: int16 mono PCM of ``text`` at ``sample_rate``."""
    engine = EspeakEngine(voice=voice, rate_wpm=rate_wpm, pitch=pitch)
    return engine.synthesize(text).resampled(sample_rate).audio
