"""A simulated user: speaks each turn when the conversation calls for it, as a microphone would.

A normal turn starts once the bot has been quiet for the turn's ``pause``; a barge-in turn starts
``barge_in`` seconds after the bot began answering the previous turn. Between turns the input is
silence. When the last turn is answered and the bot is quiet, the session ends.
"""

from __future__ import annotations

from voiceframe.clock import sleep_until
from voiceframe.frames import BotStartedSpeakingFrame, EndTaskFrame, Frame, StartFrame, now
from voiceframe.processor import UPSTREAM, FrameDirection
from voiceframe.transports.input import InputTransport

__all__ = ["SimulatedUser"]


class SimulatedUser(InputTransport):
    """Plays ``turns`` (``(pcm, pause, barge_in)``, 16 kHz mono int16) into the pipeline."""

    def __init__(
        self,
        turns: list[tuple[bytes, float, float | None]],
        *,
        sample_rate: int = 16000,
        chunk_seconds: float = 0.02,
        end_after_silence: float = 2.0,
        max_wait: float = 15.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.turns = turns
        self.rate = sample_rate
        self.chunk_seconds = chunk_seconds
        self.end_after_silence = end_after_silence
        self.max_wait = max_wait
        self.bot_started_at: float | None = None
        self.turn_started: list[float] = []  #: when each turn's audio began (pipeline clock)

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_started_at = now()
        await super().process(frame, direction)

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self.create_task(self._talk(), name=f"{self.name}:user")

    async def _talk(self) -> None:
        step = int(self.rate * self.chunk_seconds) * 2
        silence = bytes(step)
        self._due = now()

        async def send(chunk: bytes) -> None:
            await sleep_until(self._due)
            await self.push_audio(chunk, self.rate)
            self._due += self.chunk_seconds

        for pcm, pause, barge_in in self.turns:
            asked = now()
            last = self.turn_started[-1] if self.turn_started else None
            while now() - asked < self.max_wait:  # a bot that never answers must not hang the eval
                t = now()
                # has the bot begun answering my previous turn? (the first turn: nothing to answer)
                answered = last is None or (self.bot_started_at is not None and self.bot_started_at > last)
                if barge_in is not None:
                    if answered and self.bot_started_at is not None and t - self.bot_started_at >= barge_in:
                        break
                elif (
                    answered and not self.bot_speaking and t - max(self.bot_stopped_at or 0.0, asked) >= pause
                ):
                    break
                await send(silence)
            self.turn_started.append(now())
            for offset in range(0, len(pcm), step):
                await send(pcm[offset : offset + step].ljust(step, b"\x00"))
        quiet_since = now()
        while now() - quiet_since < self.max_wait:
            await send(silence)
            if self.bot_speaking:
                quiet_since = now()
            elif now() - max(quiet_since, self.bot_stopped_at or 0.0) >= self.end_after_silence:
                break
        await self.push(EndTaskFrame(reason="the simulated user is done"), UPSTREAM)
