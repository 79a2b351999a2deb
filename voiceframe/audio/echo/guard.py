"""Echo-aware barge-in: a VAD start while the bot's voice can be in the microphone must be louder
than the predicted echo.

A speakerphone or laptop speaker leaks the bot's audio back into the microphone. Silero rightly calls
that speech, so without a check the bot interrupts itself (and answers its own words). The
:class:`EchoGuard` holds an :class:`~voiceframe.audio.echo.estimator.EchoEstimator` fed with the audio
the bot actually played (by :class:`EchoReferenceTap`, placed after the output transport) and the
user's audio (by the turn controller), and answers one question: is the input over the last
``window_secs`` more than ``margin_db`` above the echo predicted from what was played? Echo alone stays
at or under the prediction; a user speaking at a normal level over it is well above.

::

    guard = EchoGuard()
    output = transport.output()
    pipeline = Pipeline([transport.input(), VADProcessor(), stt, UserTurnController(echo=guard), ...,
                         tts, output, guard.reference_tap(output), AssistantAggregator(context)])

When nothing was played within the estimator's ``max_delay`` the guard lets every start through at once
(no cost, no delay), so it changes nothing for a caller on a headset or when the bot is silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceframe.audio.echo.estimator import BLOCK_SECS, EchoEstimator
from voiceframe.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame, now
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor

if TYPE_CHECKING:
    from voiceframe.transports.output import OutputTransport

__all__ = ["EchoGuard", "EchoReferenceTap"]


class EchoGuard:
    """Decides whether speech heard while the bot's audio may leak back is the user or the echo."""

    def __init__(
        self,
        *,
        margin_db: float = 8.0,
        window_secs: float = 0.2,
        estimator: EchoEstimator | None = None,
    ) -> None:
        if window_secs <= 0:
            raise ValueError("window_secs must be positive")
        self.margin_db = margin_db
        self.window_blocks = max(1, round(window_secs / BLOCK_SECS))
        self.estimator = estimator or EchoEstimator()
        #: VAD starts judged to be echo, and starts confirmed while echo was possible
        self.held = 0
        self.confirmed = 0

    def on_input(self, frame: InputAudioRawFrame, end: float | None = None) -> None:
        """The user's audio ``frame`` arrived, ending at ``end`` (default: now)."""
        t = now() if end is None else end
        self.estimator.add_input(frame.audio, frame.sample_rate, t - frame.duration, frame.num_channels)

    def on_reference(self, frame: OutputAudioRawFrame) -> None:
        """The bot played ``frame`` (from ``frame.pts``, or now without one)."""
        start = frame.pts if frame.pts is not None else now()
        self.estimator.add_reference(frame.audio, frame.sample_rate, start, frame.num_channels)

    def echo_possible(self, t: float | None = None) -> bool:
        """Whether the bot played audio recently enough to be in the input now."""
        return self.estimator.echo_possible(now() if t is None else t)

    def excess_db(self, t: float | None = None) -> float:
        """Input over predicted echo and background (dB) in the ``window_secs`` up to ``t``."""
        est = self.estimator
        last = est.block_of((now() if t is None else t) - 1e-6)
        return est.excess_db(last - self.window_blocks + 1, last)

    def is_echo(self, t: float | None = None) -> bool:
        """Whether what the input heard lately can be only the bot's own echo (and background)."""
        return self.excess_db(t) < self.margin_db

    def reference_tap(self, output: OutputTransport | None = None) -> EchoReferenceTap:
        """A processor to place right after ``output`` that feeds the played audio to this guard.

        With ``output`` given, the transport is told to pass its played chunks on (with their playout
        ``pts``) and the tap drops them after reading (nothing downstream wanted them before).
        """
        if output is not None and not output.push_audio_downstream:
            output.push_audio_downstream = True
            return EchoReferenceTap(self, pass_audio=False)
        return EchoReferenceTap(self)


class EchoReferenceTap(FrameProcessor):
    """Reads the audio the output transport played (``OutputAudioRawFrame`` with ``pts``) into a guard."""

    def __init__(self, guard: EchoGuard, *, pass_audio: bool = True, name: str | None = None) -> None:
        super().__init__(name=name)
        self.guard = guard
        self.pass_audio = pass_audio

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == DOWNSTREAM and isinstance(frame, OutputAudioRawFrame):
            self.guard.on_reference(frame)
            if not self.pass_audio:
                return
        await self.push(frame, direction)
