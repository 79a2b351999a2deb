"""The base input transport: the client's audio, converted to the pipeline's input format.

A transport subclass receives audio its own way (a WebSocket, a WebRTC track, a file) and calls
:meth:`InputTransport.push_audio` with whatever rate and channel count the client sends; the
transport downmixes and resamples it (soxr) to the session's input rate and pushes
``InputAudioRawFrame``s. It also follows the bot's speaking state (``BotStarted/StoppedSpeakingFrame``
arrive upstream from the output transport), which file and test inputs use to know when a reply is over.
"""

from __future__ import annotations

from typing import Any

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    StartFrame,
    now,
)
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor

#: the longest audio accepted in one call; larger blocks are a client bug (or an attack)
MAX_BLOCK_SECONDS = 2.0


class InputTransport(FrameProcessor):
    """Base input transport (inline: audio runs through the pipeline in the receiving task)."""

    def __init__(self, *, sample_rate: int | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self._wanted_rate = sample_rate
        self.sample_rate = sample_rate or 16000
        self._resampler: Any = None
        self._resampler_rate = 0
        self.bot_speaking = False
        self.bot_stopped_at: float | None = None
        self.frames_in = 0

    async def on_start(self, frame: StartFrame) -> None:
        self.sample_rate = self._wanted_rate or frame.audio_in_sample_rate

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_speaking = False
            self.bot_stopped_at = now()
        await self.push(frame, direction)

    def convert(self, pcm: bytes, sample_rate: int, num_channels: int = 1) -> bytes:
        """``pcm`` (int16, interleaved) as mono at the pipeline's input rate."""
        if num_channels < 1:
            raise ValueError(f"{self.name}: num_channels must be at least 1, got {num_channels}")
        if len(pcm) % (2 * num_channels):
            raise ValueError(
                f"{self.name}: {len(pcm)} bytes is not whole int16 samples for {num_channels} channel(s)"
            )
        if len(pcm) > MAX_BLOCK_SECONDS * sample_rate * 2 * num_channels:
            raise ValueError(
                f"{self.name}: audio block of {len(pcm)} bytes is longer than {MAX_BLOCK_SECONDS} s; "
                "send audio in small chunks (20-100 ms)"
            )
        if num_channels != 1:
            from voiceframe.audio.pcm import downmix

            pcm = downmix(pcm, num_channels).tobytes()
        if sample_rate != self.sample_rate:
            if self._resampler is None or self._resampler_rate != sample_rate:
                from voiceframe.audio.resample import StreamResampler

                self._resampler = StreamResampler(sample_rate, self.sample_rate)
                self._resampler_rate = sample_rate
            pcm = self._resampler.process(pcm)
        return pcm

    async def push_audio(self, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
        """Push the client's audio into the pipeline (converted as needed)."""
        audio = self.convert(pcm, sample_rate, num_channels)
        if audio:
            self.frames_in += 1
            await self.push(InputAudioRawFrame(audio=audio, sample_rate=self.sample_rate), DOWNSTREAM)

    async def push_dtmf(self, digit: str) -> None:
        if digit not in "0123456789*#ABCD" or len(digit) != 1:
            raise ValueError(f"{self.name}: {digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        await self.push(InputDTMFFrame(digit=digit), DOWNSTREAM)


class Transport:
    """The input and output processors of one session: ``transport.input()``, ``transport.output()``."""

    def __init__(self, input: FrameProcessor, output: FrameProcessor) -> None:
        self._input = input
        self._output = output

    def input(self) -> FrameProcessor:
        return self._input

    def output(self) -> FrameProcessor:
        return self._output
