"""The pocketsphinx STT service: offline recognition with partial results and word timings.

While the user speaks (between the VAD's start and stop) audio is decoded as it arrives, in the caller's
task (about 0.3 ms per 20 ms chunk in grammar mode), and partial hypotheses are pushed as
InterimTranscriptionFrames; when the VAD says the user stopped, the utterance is finished and pushed as
the final TranscriptionFrame. Decoding as audio arrives keeps the CPU cost spread out: pocketsphinx holds
the GIL while it decodes, so decoding a whole utterance at the end (even in a thread) stalls the event
loop for tens of milliseconds, hundreds with many sessions ending turns together.

When the streamed result is empty, or in grammar mode not one whole phrase of the grammar (typically
narrow-band telephone audio, where live normalisation has not converged yet), the whole utterance is
decoded again at the end, normalised over itself, at that cost; ``final_pass = true`` does so every time.

For command-style bots, give ``grammar`` (phrases) or ``keyphrases``: much more reliable than the free
language model on synthetic or accented speech.

Config::

    [stt]
    provider = "pocketsphinx"
    grammar = ["what time is it", "tell me a joke", "goodbye"]
"""

from __future__ import annotations

from typing import Any, ClassVar

from voiceframe.frames import Frame, VADUserStartedSpeakingFrame, WordTiming
from voiceframe.processor import FrameDirection
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.stt import SegmentedSTTService, STTSettings, Transcript

from .engine import SphinxRecognizer
from .results import Final
from .searches import normalize_phrase


class PocketsphinxSettings(STTSettings):
    #: the en-US model's rate; input at any other rate is resampled to it
    sample_rate: int | None = 16000
    #: phrases to listen for (grammar mode): far more reliable than the free language model, which hears
    #: "hello" as "oh"; a command-style bot should list what its users say
    grammar: list[str] | None = None
    #: phrases to spot anywhere in speech (keyword mode), instead of a grammar
    keyphrases: list[str] | None = None
    #: keyword mode's detection threshold: lower finds more (and more false) phrases
    kws_threshold: float = 1e-30
    #: send interim transcripts while the user speaks
    interim_results: bool = True
    #: decode the whole utterance again after the user stops (slower, sometimes more accurate)
    final_pass: bool = False


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
        s = self.settings
        self._decoder = self._recognizer()
        # the whole-utterance pass needs a decoder of its own: after streaming, a decoder's state
        # changes what it finds (made on first need: ~16 ms and ~6 MB with a grammar)
        self._whole: SphinxRecognizer | None = None
        #: in grammar mode a real result is one whole phrase; anything else is a path cut short
        self._phrases = {normalize_phrase(p) for p in s.grammar} if s.grammar else None

    def _recognizer(self) -> SphinxRecognizer:
        s = self.settings
        return SphinxRecognizer(keyphrases=s.keyphrases, grammar=s.grammar, kws_threshold=s.kws_threshold)

    async def process_audio(self, audio: bytes) -> None:
        in_segment = self._segment is not None
        await super().process_audio(audio)
        if in_segment:
            partial = self._decoder.feed(audio)
            if partial is not None and partial.text and self.settings.interim_results:
                await self.emit(Transcript(partial.text, final=False))

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        starting = isinstance(frame, VADUserStartedSpeakingFrame)
        await super().handle(frame, direction)
        if starting and self._segment is not None:
            # decode the pre-roll too, so the utterance starts with its first word
            self._decoder.start_utterance()
            self._decoder.feed(b"".join(self._segment))

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        final: Final | None = self._decoder.end_utterance() if self._decoder.in_utterance else None
        streamed_ok = final is not None and bool(final.text)
        if final is not None and self._phrases is not None and final.text not in self._phrases:
            streamed_ok = False
        if self.settings.final_pass or not streamed_ok:
            # the whole utterance again, normalised over itself: rescues narrow-band (8 kHz telephone)
            # audio, where live normalisation has not converged yet
            if self._whole is None:
                self._whole = self._recognizer()
            again = self._whole.recognize(audio)
            if again.text or final is None:
                final = again
        if final is None or not final.text:
            return None
        words = [WordTiming(w.word, w.start_s, w.end_s, w.confidence) for w in final.words]
        return Transcript(final.text, final=True, words=words)
