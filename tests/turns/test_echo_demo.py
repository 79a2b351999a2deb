"""The offline demo bot (Silero, pocketsphinx, the scripted agent, espeak-ng) in a room whose speaker
leaks into the microphone, on the virtual clock: does it interrupt or answer itself? (issue 13, point 5)

The room and its loudspeaker come from ``test_echo_barge_in``; the user speaks the demo script.
Counted: turns started while the user was quiet, and how many answers the agent gave.
"""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass

import numpy as np
import pytest

from tests.turns.test_echo_barge_in import SESSION_SECS, SR, FakeLoudspeaker, FakeMicrophone, FakeRoom
from voiceframe.audio.echo import EchoGuard
from voiceframe.audio.resample import resample
from voiceframe.bot import build_bot
from voiceframe.demo import DEMO_SCRIPT, DEMO_TOOLS, demo_config
from voiceframe.frames import (
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
)
from voiceframe.testing.run import run_processor
from voiceframe.transports.input import Transport
from voiceframe.turns.controller import UserTurnController

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("voiceframe_espeak") is None
        or importlib.util.find_spec("voiceframe_pocketsphinx") is None,
        reason="the demo bot needs the espeak and pocketsphinx plugins (make install)",
    ),
]


class DemoLoudspeaker(FakeLoudspeaker):
    """The demo speaks at 24 kHz; the room runs at 16 kHz. With a guard, it is told what was played
    (build_bot has no place for the reference tap yet: this stands in for it)."""

    def __init__(self, room: FakeRoom, guard: EchoGuard | None) -> None:
        super().__init__(room)
        self.guard = guard

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        if self.guard is not None:
            self.guard.on_reference(chunk)
        if chunk.sample_rate != SR:
            audio = resample(chunk.audio, chunk.sample_rate, SR)
            chunk = OutputAudioRawFrame(audio=audio, sample_rate=SR, pts=chunk.pts)
        await super().write_audio(chunk)


@dataclass
class DemoResult:
    self_interruptions: list[float]
    answers: int
    user_turns_heard: int


def user_script() -> list[tuple[float, np.ndarray]]:
    from voiceframe_espeak import speak_to_pcm

    out, t = [], 0.0
    for pause, text in DEMO_SCRIPT[:2]:
        t += pause
        pcm = np.frombuffer(speak_to_pcm(text, sample_rate=SR, voice="en-us", rate_wpm=140), dtype=np.int16)
        out.append((t, pcm))
        t += pcm.size / SR
    return out


async def run_demo(leak_db: float | None, *, guard: bool) -> DemoResult:
    room = FakeRoom(leak_db, 0.08, user_script())
    echo = EchoGuard() if guard else None
    output = DemoLoudspeaker(room, echo)
    bot = build_bot(demo_config(), Transport(FakeMicrophone(room), output), tools=DEMO_TOOLS)
    assert isinstance(bot.turns, UserTurnController)
    bot.turns.echo = echo
    greeting = TTSSpeakFrame(text=bot.greeting or "")
    run = await run_processor(bot.pipeline, [greeting], end=False, settle=SESSION_SECS)
    starts = [
        t - room.t0
        for f, t in zip(run.downstream, run.times, strict=True)
        if isinstance(f, UserStartedSpeakingFrame)
    ]
    answers = sum(isinstance(f, LLMFullResponseStartFrame) for f in run.all_downstream)
    return DemoResult(
        self_interruptions=[t for t in starts if room.user_quiet_since(t, 0.5)],
        answers=answers,
        user_turns_heard=len(starts),
    )


async def test_without_the_guard_the_demo_interrupts_and_answers_itself() -> None:
    result = await run_demo(-25.0, guard=False)
    assert result.self_interruptions and result.self_interruptions[0] < 3.0  # the greeting is cut
    assert result.answers > len(DEMO_SCRIPT[:2])


@pytest.mark.parametrize("leak_db", [None, -25.0, -15.0])
async def test_with_the_guard_the_demo_answers_only_the_user(leak_db: float | None) -> None:
    result = await run_demo(leak_db, guard=True)
    assert result.self_interruptions == []
    assert result.user_turns_heard == result.answers == len(DEMO_SCRIPT[:2])


async def _table() -> None:
    for leak in (None, -35.0, -25.0, -15.0):
        for guard in (False, True):
            r = await run_demo(leak, guard=guard)
            print(f"leak {leak!s:>6} guard {guard!s:5} {r}")


if __name__ == "__main__":
    asyncio.run(_table())
