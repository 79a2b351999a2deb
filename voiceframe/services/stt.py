"""Speech-to-text services: streaming (audio goes to the provider as it arrives) and segmented
(audio of one utterance, cut by the VAD, is transcribed at once).

A streaming provider implements :meth:`STTService.process_audio` and calls :meth:`STTService.emit`
with interim and final results::

    class MySTT(STTService):
        async def process_audio(self, audio: bytes) -> None:
            await self.ws.send(audio)      # results arrive in a receive task -> self.emit(...)

A segmented provider implements :meth:`SegmentedSTTService.transcribe`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from voiceframe.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    WordTiming,
)
from voiceframe.processor import FrameDirection
from voiceframe.services.base import AIService
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.timeouts import DEFAULT_FIRST_BYTE_TIMEOUT, ProviderTimeoutError


class STTSettings(ServiceSettings):
    """Settings every STT has. ``sample_rate`` None means the session's input rate."""

    language: str = "en-US"
    sample_rate: int | None = None


class SegmentedSTTSettings(STTSettings):
    """Settings of an STT that transcribes whole utterances (one request each)."""

    #: seconds from the end of an utterance to its transcript before the turn fails over or
    #: apologises; provider retries happen inside it. None: no limit
    first_byte_timeout: float | None = DEFAULT_FIRST_BYTE_TIMEOUT


@dataclass(slots=True)
class Transcript:
    """A recognition result."""

    text: str
    final: bool = True
    words: list[WordTiming] = field(default_factory=list)
    confidence: float | None = None
    language: str | None = None


class STTService(AIService):
    """Base of STT services: checks and converts the audio, passes it on, emits transcriptions."""

    kind: ClassVar[str] = "stt"
    Settings: ClassVar[type[ServiceSettings]] = STTSettings
    word_timestamps: ClassVar[bool] = False

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self.sample_rate = 16000
        self._resampler: Any = None
        self._resampler_rate = 0
        self.user_id = ""

    async def on_start(self, frame: StartFrame) -> None:
        self.sample_rate = self.settings.sample_rate or frame.audio_in_sample_rate
        await super().on_start(frame)

    async def process_audio(self, audio: bytes) -> None:
        """Handle int16 mono PCM at :attr:`sample_rate` (called in the caller's task: keep it quick)."""
        raise NotImplementedError(f"{type(self).__name__} must implement process_audio()")

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame):
            await self.push(frame, direction)
            audio = self._convert(frame)
            if audio is None:
                return
            try:
                await self.process_audio(audio)
            except Exception as exc:
                await self.report(exc, context="sending audio")
            return
        await self.push(frame, direction)

    def _convert(self, frame: InputAudioRawFrame) -> bytes | None:
        audio = frame.audio
        if frame.num_channels != 1:
            from voiceframe.audio.pcm import downmix

            audio = downmix(audio, frame.num_channels).tobytes()
        if frame.sample_rate != self.sample_rate:
            if self._resampler is None or self._resampler_rate != frame.sample_rate:
                from voiceframe.audio.resample import StreamResampler

                self._resampler = StreamResampler(frame.sample_rate, self.sample_rate)
                self._resampler_rate = frame.sample_rate
            audio = self._resampler.process(audio)
        return audio or None

    async def emit(self, result: Transcript) -> None:
        """Push a transcription frame for ``result`` (final or interim)."""
        cls = TranscriptionFrame if result.final else InterimTranscriptionFrame
        await self.push(
            cls(
                text=result.text,
                user_id=self.user_id,
                language=result.language or self.settings.language,
                words=result.words or None,
                confidence=result.confidence,
            )
        )


class SegmentedSTTService(STTService):
    """Buffers one utterance between the VAD's start and stop and transcribes it in one call.

    Keeps ``preroll`` seconds of audio from before the VAD decided speech had started (the VAD needs
    some speech before it decides).
    """

    preroll: ClassVar[float] = 1.0

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._ring: deque[bytes] = deque()
        self._ring_bytes = 0
        self._segment: list[bytes] | None = None
        self._transcribing: set[asyncio.Task[None]] = set()

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        """Transcribe one utterance (int16 mono PCM)."""
        raise NotImplementedError(f"{type(self).__name__} must implement transcribe()")

    async def process_audio(self, audio: bytes) -> None:
        if self._segment is not None:
            self._segment.append(audio)
            return
        self._ring.append(audio)
        self._ring_bytes += len(audio)
        limit = int(self.preroll * self.sample_rate) * 2
        while self._ring_bytes - len(self._ring[0]) >= limit:
            self._ring_bytes -= len(self._ring.popleft())

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._segment = list(self._ring)
            self._ring.clear()
            self._ring_bytes = 0
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._segment is not None:
            audio = b"".join(self._segment)
            self._segment = None
            self._transcribing.add(self.create_task(self._transcribe(audio), name=f"{self.name}:transcribe"))
        await super().handle(frame, direction)

    async def on_end(self, frame: EndFrame) -> None:
        # a graceful end finishes what the user already said before the EndFrame moves on
        pending = [t for t in self._transcribing if not t.done()]
        if pending:
            await asyncio.wait(pending)
        await super().on_end(frame)

    async def _transcribe(self, audio: bytes) -> None:
        task = asyncio.current_task()
        self.metrics.start_processing()
        # only settings that define a deadline get one: a local engine has no provider to hang
        limit = getattr(self.settings, "first_byte_timeout", None)
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                result = await self.transcribe(audio, self.sample_rate)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                exc = ProviderTimeoutError(f"no transcript from {self.name} within {limit:g} s")
            await self.fail(exc, context="transcribing")
            return
        finally:
            if task is not None:
                self._transcribing.discard(task)
        await self.metrics.stop_processing()
        if result is not None and result.text.strip():
            await self.emit(result)
