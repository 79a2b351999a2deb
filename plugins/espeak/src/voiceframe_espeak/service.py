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

from pydantic import Field, field_validator

from voiceframe.frames import WordTiming
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService, TTSSettings

from .engine import EspeakEngine, check_voice


class EspeakSettings(TTSSettings):
    #: a voice name, identifier or language tag ("en-us", "en", "fr"); `voiceframe voices espeak` lists them
    voice: str | None = "en-us"
    #: words per minute
    rate_wpm: int = Field(default=175, ge=80, le=450)
    #: 0 (low) to 99 (high)
    pitch: int = Field(default=50, ge=0, le=99)
    #: 0 to 200; 100 is normal
    volume: int = Field(default=100, ge=0, le=200)
    #: seeds espeak-ng's noise so the output is reproducible
    seed: int = 1

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, voice: str | None) -> str | None:
        # asks espeak-ng itself, so a typo fails when the config is checked, not when speech is due
        if voice is not None:
            check_voice(voice)
        return voice


class EspeakTTSService(TTSService):
    """Synthesises each sentence with espeak-ng (about 1 ms per second of speech) with word timings."""

    Settings: ClassVar[type[ServiceSettings]] = EspeakSettings
    word_timestamps: ClassVar[bool] = True

    @classmethod
    def available_voices(cls) -> list[tuple[str, str]]:
        """(language tag, name) of every installed voice, for ``voiceframe voices espeak``."""
        from .engine import list_voices

        return sorted((v.language, v.name) for v in list_voices())

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
