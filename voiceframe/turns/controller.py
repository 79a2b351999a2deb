"""The user turn controller: decides when the user's turn starts and ends, and when the bot is interrupted.

Place it after the STT (it needs transcriptions, VAD frames and, for Smart Turn, the input audio, which
the STT passes on) and before the user context aggregator::

    Pipeline([transport.input(), VADProcessor(VADParams(stop_secs=0.2)), stt,
              UserTurnController(strategy=SmartTurnStrategy(), min_words=2), user_aggregator, llm, ...])

Rules:

* The user's turn starts on VAD start (or on a final transcript the VAD missed: a short "yes" below
  ``start_secs``). It ends when the end-of-turn strategy says so (see ``strategies.py``), or when the
  strategy's ``max_wait`` of silence has passed. Speech that resumes before that continues the turn.
* Each turn start interrupts (``broadcast_interruption()``: a new epoch, InterruptionFrame both ways) so
  a reply in flight for the user's previous words is dropped, unless the StartFrame disallowed
  interruptions. UserStarted/StoppedSpeakingFrame go both ways.
* While the bot speaks, speech interrupts at VAD start, unless ``min_words`` or ``backchannels`` are
  set: then it waits for a transcription with at least ``min_words`` words that is not only a
  backchannel ("mm-hmm", "yeah"). Speech that never qualifies starts no turn and, by default
  (``drop_ignored_transcripts``), its transcriptions are not passed on, so "mm-hmm" does not become a
  user message. Waiting for words costs the STT's interim latency on every barge-in.
* A final transcript arriving within ``late_final_secs`` after a turn ended belongs to that turn: it is
  passed on and starts no new turn.
* While a mute strategy is muted, speech starts no turn and interrupts nothing; its transcriptions are
  dropped. A turn already in progress ends normally.
* With an ``echo`` guard (:class:`~voiceframe.audio.echo.EchoGuard`, fed with the played audio by its
  reference tap after the output transport), a VAD start while the bot's audio can leak back counts
  only if the input is clearly louder than the predicted echo. A start judged to be echo is *held*:
  each later audio frame is checked again, and the turn starts on the first one where the input rises
  above the echo (a user starting to talk while the VAD was already triggered by the echo), or never,
  if the VAD stops first. Transcriptions of held speech start no turn and are dropped like ignored
  speech (also ``late_final_secs`` after it).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voiceframe.clock import sleep_until
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    MetricsData,
    MetricsFrame,
    StartFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    now,
)
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor
from voiceframe.turns.bot_speaking import BotSpeakingState
from voiceframe.turns.mute import MuteStrategy
from voiceframe.turns.strategies import EndOfTurnStrategy, UserTurn, VADSilenceStrategy, Verdict

if TYPE_CHECKING:
    from voiceframe.audio.echo.guard import EchoGuard

__all__ = ["DEFAULT_BACKCHANNELS", "TurnDecision", "UserTurnController", "is_backchannel", "word_count"]

#: Short acknowledgements that need not interrupt the bot (pass ``backchannels=DEFAULT_BACKCHANNELS``).
DEFAULT_BACKCHANNELS: frozenset[str] = frozenset(
    {"mm-hmm", "mhm", "mm", "hmm", "uh-huh", "uh huh", "yeah", "yes", "yep", "yup", "okay", "ok",
     "right", "sure", "i see", "got it", "alright", "all right", "oh", "ah", "aha", "cool", "nice"}
)  # fmt: skip

_TOKEN = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*")
_AUDIO_FRAMES = (InputAudioRawFrame,)
_STATE_FRAMES = (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallCancelFrame,
)

_IDLE, _PENDING, _TURN = 0, 1, 2


def word_count(text: str) -> int:
    """Words in a transcript ("mm-hmm" is one word).

    >>> word_count("Mm-hmm, wait a second.")
    4
    """
    return len(_TOKEN.findall(text.lower()))


def is_backchannel(text: str, backchannels: Collection[str]) -> bool:
    """Whether ``text`` is only backchannels ("Yeah.", "mm-hmm okay").

    >>> is_backchannel("Mm-hmm.", DEFAULT_BACKCHANNELS), is_backchannel("yeah but wait", DEFAULT_BACKCHANNELS)
    (True, False)
    """
    tokens = _TOKEN.findall(text.lower())
    if not tokens or not backchannels:
        return False
    return " ".join(tokens) in backchannels or all(t in backchannels for t in tokens)


@dataclass(frozen=True, slots=True)
class TurnDecision:
    """One answer of the end-of-turn strategy, kept for inspection (``controller.decisions``)."""

    turn_id: int
    pause: int
    at: float
    verdict: Verdict


class UserTurnController(FrameProcessor):
    """Decides UserStarted/StoppedSpeaking and barge-in from VAD, transcriptions and a strategy."""

    def __init__(
        self,
        strategy: EndOfTurnStrategy | None = None,
        *,
        min_words: int = 0,
        backchannels: Collection[str] = (),
        mute: Sequence[MuteStrategy] = (),
        late_final_secs: float = 1.0,
        drop_ignored_transcripts: bool = True,
        pre_roll_secs: float = 0.5,
        echo: EchoGuard | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if min_words < 0 or late_final_secs < 0 or pre_roll_secs < 0:
            raise ValueError("min_words, late_final_secs and pre_roll_secs must be >= 0")
        self.strategy = strategy or VADSilenceStrategy()
        self.min_words = min_words
        self.backchannels = frozenset(b.lower() for b in backchannels)
        self.mute = list(mute)
        self.late_final_secs = late_final_secs
        self.drop_ignored_transcripts = drop_ignored_transcripts
        self.bot = BotSpeakingState()
        #: keeps the bot's own voice leaking into the microphone from starting turns (None: off)
        self.echo = echo
        self._echo_held = False  # the VAD is "speaking", but only echo was heard so far
        self._echo_late_until = -1.0
        #: the strategy's recent answers (newest last)
        self.decisions: deque[TurnDecision] = deque(maxlen=64)
        self._allow_interruptions = True
        self._metrics = True
        self._state = _IDLE
        self._vad_speaking = False
        self._turn_id = 0
        self._pause = 0
        self._finals: list[str] = []
        self._fresh = False
        self._interim = ""
        self._stopped_at: float | None = None
        self._late_until = -1.0
        self._end_task: asyncio.Task[None] | None = None
        # Rolling buffer of the user's audio for audio strategies: the whole turn (last 8 s) while in a
        # turn, a short pre-roll otherwise (the VAD decides a start ~start_secs after the onset).
        self._buffer_audio = self.strategy.needs_audio
        self._audio = bytearray()
        self._rate = 16000
        self._pre_roll_secs = pre_roll_secs

    # ------------------------------------------------------------------------------ properties

    @property
    def user_speaking(self) -> bool:
        """Whether a user turn is in progress (UserStarted sent, UserStopped not yet)."""
        return self._state == _TURN

    @property
    def muted(self) -> bool:
        return any(m.muted for m in self.mute)

    # ---------------------------------------------------------------------------------- frames

    async def on_start(self, frame: StartFrame) -> None:
        self._allow_interruptions = frame.allow_interruptions
        self._metrics = frame.enable_metrics
        self._rate = frame.audio_in_sample_rate

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, _AUDIO_FRAMES):
            if self._buffer_audio and frame.num_channels == 1:
                self._buffer(frame)
            await self.push(frame, direction)
            echo = self.echo
            if echo is not None:
                echo.on_input(frame)
                if self._echo_held and not echo.is_echo():
                    # the user started talking over speech the VAD had already (rightly) called echo
                    self._echo_held = False
                    echo.confirmed += 1
                    await self._vad_started()
        elif isinstance(frame, _STATE_FRAMES):
            await self.push(frame, direction)
            await self._on_state_frame(frame)
        elif direction == DOWNSTREAM and isinstance(frame, VADUserStartedSpeakingFrame):
            await self.push(frame, direction)
            await self._on_vad_start()
        elif direction == DOWNSTREAM and isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push(frame, direction)
            await self._on_vad_stop()
        elif direction == DOWNSTREAM and isinstance(frame, TranscriptionFrame | InterimTranscriptionFrame):
            final = isinstance(frame, TranscriptionFrame)
            turn_id = self._turn_id
            if await self._before_transcript(frame.text, final):
                await self.push(frame, direction)
            if final or turn_id != self._turn_id:
                await self._after_transcript()
        else:
            await self.push(frame, direction)

    def _buffer(self, frame: InputAudioRawFrame) -> None:
        self._rate = frame.sample_rate
        audio = self._audio
        audio += frame.audio
        keep_secs = 8.0 if self._state != _IDLE else self._pre_roll_secs
        keep = int(keep_secs * self._rate) * 2
        # trim in steps of 0.25 s so the memmove does not run on every frame
        if len(audio) > keep + self._rate // 2:
            del audio[: len(audio) - keep]

    async def _on_state_frame(self, frame: Frame) -> None:
        for m in self.mute:
            m.update(frame)
        changed = self.bot.update(frame)
        if changed and not self.bot.speaking and self._state == _PENDING and self._vad_speaking:
            # The bot finished while the user was talking without (yet) qualifying: it is the user's turn.
            await self._start_turn()

    async def _on_vad_start(self) -> None:
        self._expire_pending()  # before marking the VAD as speaking: a stale pending speech ends here
        echo = self.echo
        if echo is not None and self._state == _IDLE and not self.muted and echo.echo_possible():
            if echo.is_echo():
                self._echo_held = True
                echo.held += 1
                return
            echo.confirmed += 1  # speech over the bot's audio: louder than its echo
        await self._vad_started()

    async def _vad_started(self) -> None:
        self._vad_speaking = True
        if self.echo is not None:
            self.echo.estimator.learning = False  # the user's voice is not the echo path's gain
        self._cancel_end()
        self._stopped_at = None
        if self._state == _TURN:
            self._fresh = False  # the words of this new stretch are not transcribed yet
            return
        if self._state == _PENDING or self.muted:
            return
        if self.bot.speaking and (self.min_words > 0 or self.backchannels):
            self._state = _PENDING
            self._finals, self._interim = [], ""
            return
        await self._start_turn()

    async def _on_vad_stop(self) -> None:
        if self._echo_held:
            self._echo_held = False
            self._echo_late_until = now() + self.late_final_secs
            return
        self._vad_speaking = False
        if self.echo is not None:
            self.echo.estimator.learning = True
        if self._state == _PENDING:
            self._late_until = now() + self.late_final_secs
        elif self._state == _TURN:
            self._pause += 1
            self._stopped_at = now()
            await self._evaluate()

    async def _before_transcript(self, text: str, final: bool) -> bool:
        """Update the turn with a transcription; False if it must not be passed on."""
        self._expire_pending()
        state = self._state
        if state == _TURN:
            if final:
                self._add_final(text)
            else:
                self._interim = text
            return True
        if state == _PENDING:
            if final:
                self._add_final(text)
            else:
                self._interim = text
            heard = " ".join([*self._finals, "" if final else text]).strip()
            if self._qualifies(heard):
                await self._start_turn(keep_text=True)
                return True
            return not self.drop_ignored_transcripts
        if self.muted:
            return False
        if not final or not text.strip() or now() <= self._late_until:
            return True  # an interim, or the late final of the turn that just ended
        if self._echo_held or now() <= self._echo_late_until:
            return not self.drop_ignored_transcripts  # the STT transcribed the bot's own echo
        if self.bot.speaking:
            # Without a VAD start this may be the bot's own voice leaking back (echo): never barge in on it.
            return not self.drop_ignored_transcripts
        # Speech the VAD missed (too short or quiet for start_secs), but the STT heard: a turn.
        await self._start_turn()
        self._add_final(text)
        return True

    async def _after_transcript(self) -> None:
        # A final (or a turn started by a transcription) while the VAD is quiet: (re)ask the strategy,
        # which may now know enough to decide.
        if self._state != _TURN or self._vad_speaking:
            return
        if self._stopped_at is None:
            self._pause += 1
            self._stopped_at = now()
        self._cancel_end()
        await self._evaluate()

    # ------------------------------------------------------------------------------- decisions

    def _add_final(self, text: str) -> None:
        if text.strip():
            self._finals.append(text.strip())
            self._fresh = True
        self._interim = ""

    def _qualifies(self, heard: str) -> bool:
        if not heard or is_backchannel(heard, self.backchannels):
            return False
        return word_count(heard) >= max(self.min_words, 1)

    def _expire_pending(self) -> None:
        if self._state == _PENDING and not self._vad_speaking and now() > self._late_until:
            self._state = _IDLE
            self._finals, self._interim = [], ""

    def _snapshot(self) -> UserTurn:
        return UserTurn(
            turn_id=self._turn_id,
            pause=self._pause,
            audio=bytes(self._audio) if self._buffer_audio else b"",
            sample_rate=self._rate,
            transcript=" ".join(self._finals),
            transcript_fresh=self._fresh,
        )

    async def _evaluate(self) -> None:
        turn = self._snapshot()
        if self.strategy.in_thread:
            self._end_task = self.create_task(self._decide_in_thread(turn), name=f"{self.name}:end-of-turn")
            return
        await self._apply(turn, self.strategy.evaluate(turn))

    async def _decide_in_thread(self, turn: UserTurn) -> None:
        verdict = await asyncio.to_thread(self.strategy.evaluate, turn)
        self._end_task = None
        await self._apply(turn, verdict)

    async def _apply(self, turn: UserTurn, verdict: Verdict) -> None:
        self.decisions.append(TurnDecision(turn.turn_id, turn.pause, now(), verdict))
        stopped_at = self._stopped_at if self._stopped_at is not None else now()
        deadline = stopped_at + verdict.end_in
        if deadline <= now():
            await self._end_turn(verdict)
        else:
            self._end_task = self.create_task(
                self._end_at(deadline, verdict), name=f"{self.name}:end-of-turn"
            )

    async def _end_at(self, deadline: float, verdict: Verdict) -> None:
        await sleep_until(deadline)
        self._end_task = None
        await self._end_turn(verdict)

    def _cancel_end(self) -> None:
        task = self._end_task
        if task is not None:
            self._end_task = None
            task.cancel()

    async def _start_turn(self, *, keep_text: bool = False) -> None:
        self._state = _TURN
        self._turn_id += 1
        self._pause = 0
        self._stopped_at = None
        if not keep_text:
            self._finals, self._interim, self._fresh = [], "", False
        if self._allow_interruptions:
            await self.broadcast_interruption()
        await self.push(UserStartedSpeakingFrame(), DOWNSTREAM)
        await self.push(UserStartedSpeakingFrame(), UPSTREAM)

    async def _end_turn(self, verdict: Verdict) -> None:
        if self._state != _TURN:
            return
        self._cancel_end()
        self._state = _IDLE
        self._late_until = now() + self.late_final_secs
        self._finals, self._interim, self._fresh = [], "", False
        self._audio.clear()
        await self.push(UserStoppedSpeakingFrame(), DOWNSTREAM)
        await self.push(UserStoppedSpeakingFrame(), UPSTREAM)
        if self._metrics:
            extra: dict[str, object] = {"reason": verdict.reason, "turn_id": self._turn_id}
            if verdict.probability is not None:
                extra["probability"] = verdict.probability
            # value: seconds from the VAD stop to the end of the turn (what the strategy added)
            waited = now() - self._stopped_at if self._stopped_at is not None else 0.0
            data = MetricsData(self.name, "turn", waited, extra=extra)
            await self.push(MetricsFrame(data=[data]), DOWNSTREAM)

    async def on_end(self, frame: EndFrame) -> None:
        self._cancel_end()

    async def on_cancel(self, frame: CancelFrame) -> None:
        self._cancel_end()
