"""Helpers for turn-taking tests: audio as 20 ms frames in real time, event timelines, a fake LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from voiceframe.audio.pcm import Int16Array
from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    now,
)
from voiceframe.processor import UPSTREAM, FrameDirection, QueuedFrameProcessor
from voiceframe.testing.run import ProcessorRun, Upstream, Wait

SR = 16000
FRAME = 320  # 20 ms

Item = Frame | Wait | Upstream

EVENT_TYPES = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    InterruptionFrame,
)


def audio_frames(x: Int16Array, sr: int = SR) -> list[Item]:
    """``x`` as 20 ms InputAudioRawFrames, each followed by a 20 ms wait (audio arrives in real time)."""
    n = FRAME * sr // SR
    out: list[Item] = []
    for i in range(0, x.size, n):
        out += [InputAudioRawFrame(audio=x[i : i + n].tobytes(), sample_rate=sr), Wait(n / sr)]
    return out


def events(run: ProcessorRun, t0: float | None = None) -> list[tuple[str, float]]:
    """(frame type, time - t0) of the speaking-state and interruption frames that left downstream.

    ``t0`` defaults to the time of the first input audio frame, or 0 if there is none (a test's first
    run starts its virtual clock at 0; later runs in the same test continue that clock).
    """
    if t0 is None:
        t0 = next(
            (t for f, t in zip(run.downstream, run.times, strict=True) if isinstance(f, InputAudioRawFrame)),
            0.0,
        )
    return [
        (type(f).__name__.replace("SpeakingFrame", "").replace("Frame", ""), round(t - t0, 4))
        for f, t in zip(run.downstream, run.times, strict=True)
        if isinstance(f, EVENT_TYPES)
    ]


def kinds(run: ProcessorRun) -> list[str]:
    return [k for k, _ in events(run)]


class FakeLLM(QueuedFrameProcessor):
    """Streams scripted responses: one per LLMContextFrame (downstream) or run_llm append (upstream).

    Tokens are pushed ``token_secs`` apart. The times at which it was asked to run are in ``runs``.
    """

    def __init__(self, responses: Sequence[Sequence[str]], token_secs: float = 0.02) -> None:
        super().__init__()
        self.responses = [list(r) for r in responses]
        self.token_secs = token_secs
        self.runs: list[float] = []
        self.appended: list[LLMMessagesAppendFrame] = []

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, LLMContextFrame):
            await self._respond()
        elif isinstance(frame, LLMMessagesAppendFrame) and direction == UPSTREAM:
            # stands in for the user aggregator before the LLM: append, then run the LLM
            self.appended.append(frame)
            if frame.run_llm:
                await self._respond()
        else:
            await self.push(frame, direction)

    async def _respond(self) -> None:
        self.runs.append(now())
        tokens = self.responses.pop(0)
        await self.push(LLMFullResponseStartFrame())
        for token in tokens:
            await asyncio.sleep(self.token_secs)
            await self.push(LLMTextFrame(text=token))
        await self.push(LLMFullResponseEndFrame())
