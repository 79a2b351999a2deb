"""The pocketsphinx STT service: offline recognition with partial results and word timings.

While the user speaks (between the VAD's start and stop) audio is decoded as it arrives and partial
hypotheses are pushed as InterimTranscriptionFrames; when the VAD says the user stopped, the whole
utterance is recognised again at once (normalised over itself, pocketsphinx's best accuracy) and pushed
as the final TranscriptionFrame.

For command-style bots, give ``grammar`` (phrases) or ``keyphrases``: much more reliable than the free
language model on synthetic or accented speech.

Config::

    [stt]
    provider = "pocketsphinx"
    grammar = ["what time is it", "tell me a joke", "goodbye"]
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from voiceframe.frames import WordTiming
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.stt import SegmentedSTTService, STTSettings, Transcript

from .engine import SphinxRecognizer


class PocketsphinxSettings(STTSettings):
    sample_rate: int | None = 16000
    grammar: list[str] | None = None
    keyphrases: list[str] | None = None
    kws_threshold: float = 1e-30
    interim_results: bool = True


class PocketsphinxSTTService(SegmentedSTTService):
    """Offline STT with pocketsphinx's bundled en-US model (16 kHz mono; other input is converted)."""

    Settings: ClassVar[type[ServiceSettings]] = PocketsphinxSettings
    word_timestamps: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.settings.sample_rate != 16000:
            raise ValueError(
                "pocketsphinx's en-US model needs sample_rate = 16000 (input is resampled to it)"
            )
        self._streaming = self._make_recognizer() if self.settings.interim_results else None
        self._final = self._make_recognizer()

    def _make_recognizer(self) -> SphinxRecognizer:
        s = self.settings
        return SphinxRecognizer(keyphrases=s.keyphrases, grammar=s.grammar, kws_threshold=s.kws_threshold)

    async def process_audio(self, audio: bytes) -> None:
        in_segment = self._segment is not None
        await super().process_audio(audio)
        if in_segment and self._streaming is not None:
            partial = self._streaming.feed(audio)
            if partial is not None and partial.text:
                await self.emit(Transcript(partial.text, final=False))

    async def handle(self, frame: Any, direction: Any) -> None:
        from voiceframe.frames import VADUserStartedSpeakingFrame

        starting = isinstance(frame, VADUserStartedSpeakingFrame)
        await super().handle(frame, direction)
        if starting and self._streaming is not None and self._segment is not None:
            # decode the pre-roll too, so partials start with the first word
            self._streaming.start_utterance()
            self._streaming.feed(b"".join(self._segment))

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        streamed = None
        if self._streaming is not None and self._streaming.in_utterance:
            streamed = self._streaming.end_utterance()
        loop = asyncio.get_running_loop()
        final = await loop.run_in_executor(None, self._final.recognize, audio)
        if not final.text and streamed is not None:
            # the whole-utterance pass is usually better, but sometimes finds no grammar path where the
            # streaming pass (adapted over the session) did: keep what the user saw in the partials
            final = streamed
        words = [WordTiming(w.word, w.start_s, w.end_s, w.confidence) for w in final.words]
        return Transcript(final.text, final=True, words=words) if final.text else None
