"""The espeak-ng TTS service: offline speech with real word timings (GPL-3.0-or-later).

>>> tts = EspeakTTSService(voice="en-us", rate_wpm=165)   # doctest: +SKIP

Config::

    [tts]
    provider = "espeak"
    voice = "en-us"
    rate_wpm = 165
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from voiceframe.frames import WordTiming
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService, TTSSettings

from .engine import EspeakEngine


class EspeakSettings(TTSSettings):
    voice: str | None = "en-us"
    rate_wpm: int = 175
    pitch: int = 50
    volume: int = 100
    seed: int = 1


class EspeakTTSService(TTSService):
    """Synthesises each sentence with espeak-ng (about 1 ms per second of speech) with word timings."""

    Settings: ClassVar[type[ServiceSettings]] = EspeakSettings
    word_timestamps: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine = self._make_engine()

    def _make_engine(self) -> EspeakEngine:
        s = self.settings
        return EspeakEngine(
            voice=s.voice or "en-us", rate_wpm=s.rate_wpm, pitch=s.pitch, volume=s.volume, seed=s.seed
        )

    async def on_settings_changed(self, old: ServiceSettings, new: ServiceSettings) -> None:
        self._engine = self._make_engine()

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        # synchronous on purpose: a sentence takes ~1-5 ms, less than a thread hop, and it keeps the
        # virtual clock exact in tests
        result = self._engine.synthesize(text)
        words = [WordTiming(w.word, w.start_s, w.end_s) for w in result.words]
        yield TTSChunk(audio=result.audio, sample_rate=result.sample_rate, words=words)
