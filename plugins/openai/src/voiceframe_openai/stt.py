"""OpenAI speech-to-text through ``/audio/transcriptions`` (one WAV upload per utterance)."""

from __future__ import annotations

import io
import wave
from typing import Any, ClassVar

import openai

from voiceframe.frames import WordTiming
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.stt import SegmentedSTTService, SegmentedSTTSettings, Transcript

from ._client import OpenAIClient, OpenAIConnection, translate


class OpenAISTTSettings(SegmentedSTTSettings, OpenAIConnection):
    #: gpt-4o-transcribe / gpt-4o-mini-transcribe (text only) or whisper-1 (word timestamps)
    model: str = "gpt-4o-transcribe"
    #: ask for word times (response_format verbose_json + timestamp_granularities word: whisper-1 only)
    word_timestamps: bool = False
    #: text that guides spelling and style (names, jargon)
    prompt: str | None = None
    temperature: float | None = None


def to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """int16 mono PCM as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


class OpenAISTTService(OpenAIClient, SegmentedSTTService):
    """Transcribes each utterance the VAD cut; word timings with ``word_timestamps`` (whisper-1)."""

    Settings: ClassVar[type[ServiceSettings]] = OpenAISTTSettings
    word_timestamps: ClassVar[bool] = True

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        if self._client is None:
            await self.connect()
        assert self._client is not None
        s: OpenAISTTSettings = self.settings
        # the API takes ISO-639-1 ("en"), voiceframe settings hold BCP-47 ("en-US")
        language = s.language.split("-")[0].lower() if s.language else None
        extra: dict[str, Any] = {}
        if s.prompt:
            extra["prompt"] = s.prompt
        if s.temperature is not None:
            extra["temperature"] = s.temperature
        if s.word_timestamps:
            extra["timestamp_granularities"] = ["word"]
        try:
            result: Any = await self._client.audio.transcriptions.create(
                file=("audio.wav", to_wav(audio, sample_rate), "audio/wav"),
                model=s.model,
                language=language or openai.omit,
                response_format="verbose_json" if s.word_timestamps else "json",
                **extra,
            )
            words = [WordTiming(w.word, w.start, w.end) for w in getattr(result, "words", None) or ()]
            text = result.text
            if not isinstance(text, str):
                raise TypeError(f"text is {type(text).__name__}, not a string")
        except Exception as exc:
            raise translate(exc, self.where) from exc
        return Transcript(text=text.strip(), words=words, language=s.language)
