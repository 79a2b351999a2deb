"""End-of-turn strategies: when VAD goes quiet, has the user finished their turn?

The :class:`~voiceframe.turns.controller.UserTurnController` asks its strategy each time the VAD stops
inside a user turn, and again whenever a final transcript arrives while it waits. A strategy answers
with a :class:`Verdict`: end the turn ``end_in`` seconds after the VAD stopped (0 = now), unless the
user speaks again first. So "incomplete" is never final: after ``max_wait`` of silence the turn ends
anyway.

================================  =====================================================================
strategy                          latency after the user's last word (see docs/turn-taking.md)
================================  =====================================================================
:class:`VADSilenceStrategy`       VAD ``stop_secs`` (0.8 s by default)
:class:`SmartTurnStrategy`        VAD ``stop_secs`` (use 0.2) + ~35 ms of CPU; ``max_wait`` if unsure
:class:`TranscriptStrategy`       VAD ``stop_secs`` + STT final latency; ``max_wait`` if unfinished
:class:`CombinedStrategy`         Smart Turn, shifted by the transcript signal when one is there
================================  =====================================================================

Example::

    controller = UserTurnController(strategy=CombinedStrategy(max_wait=2.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from voiceframe.audio.turn.smart_turn import SmartTurnModel
from voiceframe.audio.turn.transcript_signal import combine, transcript_signal

__all__ = [
    "CombinedStrategy",
    "EndOfTurnStrategy",
    "SmartTurnStrategy",
    "TranscriptStrategy",
    "UserTurn",
    "VADSilenceStrategy",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class UserTurn:
    """What the controller knows about the user's turn when it asks a strategy."""

    #: counts user turns in the session; with ``pause`` it identifies one question (for caching)
    turn_id: int
    #: counts VAD stops within this turn
    pause: int
    #: int16 mono PCM of the turn so far (at most the last 8 s); empty if the strategy needs no audio
    audio: bytes = b""
    sample_rate: int = 16000
    #: final transcripts of this turn so far, joined by spaces
    transcript: str = ""
    #: whether a final transcript arrived since the user last started speaking (is ``transcript`` current?)
    transcript_fresh: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """End the turn ``end_in`` seconds after the VAD stopped, unless the user speaks again."""

    end_in: float
    #: the turn-complete probability the decision used, if any
    probability: float | None = None
    reason: str = ""

    @property
    def complete(self) -> bool:
        """Whether the strategy judged the turn complete now."""
        return self.end_in <= 0.0


class EndOfTurnStrategy:
    """Base class. Subclasses implement :meth:`evaluate` (synchronous, called on the event loop)."""

    #: whether the controller must buffer the user's audio for this strategy
    needs_audio: ClassVar[bool] = False
    #: run :meth:`evaluate` in a worker thread (for strategies that take CPU; see SmartTurnStrategy)
    in_thread: bool = False

    def evaluate(self, turn: UserTurn) -> Verdict:
        raise NotImplementedError


class VADSilenceStrategy(EndOfTurnStrategy):
    """The turn ends when the VAD stops: latency is exactly the VAD's ``stop_secs``.

    >>> VADSilenceStrategy().evaluate(UserTurn(turn_id=1, pause=1)).complete
    True
    """

    def evaluate(self, turn: UserTurn) -> Verdict:
        return Verdict(0.0, None, "vad silence")


class SmartTurnStrategy(EndOfTurnStrategy):
    """Smart Turn v3 on the turn's audio: complete if ``p >= threshold``, else wait ``max_wait``.

    Use it with a short VAD ``stop_secs`` (0.2 s): the model decides in ~35 ms of CPU instead of waiting
    for a long silence. By default inference runs inline on the event loop (it blocks the loop ~35 ms per
    pause, and keeps virtual time exact); ``in_thread=True`` moves it to a worker thread for servers
    with many sessions. The probability is computed once per pause and cached.
    """

    needs_audio: ClassVar[bool] = True

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        max_wait: float = 3.0,
        model: SmartTurnModel | None = None,
        in_thread: bool = False,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0, got {max_wait}")
        self.threshold = threshold
        self.max_wait = max_wait
        self.in_thread = in_thread
        self._model = model
        self._cache: tuple[int, int, float] | None = None

    @property
    def model(self) -> SmartTurnModel:
        if self._model is None:
            self._model = SmartTurnModel.shared()
        return self._model

    def probability(self, turn: UserTurn) -> float:
        """Smart Turn's probability that ``turn`` is complete (cached per turn and pause)."""
        cache = self._cache
        if cache is not None and cache[0] == turn.turn_id and cache[1] == turn.pause:
            return cache[2]
        p = self.model.predict(turn.audio, turn.sample_rate) if turn.audio else 0.0
        self._cache = (turn.turn_id, turn.pause, p)
        return p

    def evaluate(self, turn: UserTurn) -> Verdict:
        p = self.probability(turn)
        if p >= self.threshold:
            return Verdict(0.0, p, "smart turn: complete")
        return Verdict(self.max_wait, p, "smart turn: incomplete")


class TranscriptStrategy(EndOfTurnStrategy):
    """Decides from the final transcript's last words (see ``voiceframe.audio.turn.transcript_signal``).

    No transcript yet: wait up to ``transcript_wait`` for one. Unfinished ("...to", "um"): wait
    ``max_wait``. Otherwise complete.

    >>> s = TranscriptStrategy()
    >>> s.evaluate(UserTurn(1, 1, transcript="I want to", transcript_fresh=True)).end_in
    3.0
    """

    def __init__(self, *, max_wait: float = 3.0, transcript_wait: float = 1.0) -> None:
        self.max_wait = max_wait
        self.transcript_wait = transcript_wait

    def evaluate(self, turn: UserTurn) -> Verdict:
        if not turn.transcript_fresh:
            return Verdict(self.transcript_wait, None, "transcript: waiting for a final")
        signal = transcript_signal(turn.transcript)
        if signal < 0:
            return Verdict(self.max_wait, None, f"transcript: unfinished ({signal:+.1f})")
        return Verdict(0.0, None, f"transcript: finished ({signal:+.1f})")


class CombinedStrategy(EndOfTurnStrategy):
    """Smart Turn's probability shifted by the transcript signal (log-odds, ``weight`` nats per unit).

    When no final transcript of the last words is there yet, it decides on audio alone, except that a
    "complete" verdict waits ``transcript_wait`` for a transcript that may veto it (a sentence ending
    in "to" is unfinished whatever its prosody). A transcript that arrives later re-evaluates, so an
    "incomplete" turn whose transcript looks finished ends as soon as the transcript arrives.
    """

    needs_audio: ClassVar[bool] = True

    def __init__(
        self,
        smart_turn: SmartTurnStrategy | None = None,
        *,
        threshold: float = 0.5,
        weight: float = 3.0,
        transcript_wait: float = 0.3,
        max_wait: float = 3.0,
    ) -> None:
        self.smart_turn = smart_turn or SmartTurnStrategy(threshold=threshold, max_wait=max_wait)
        self.in_thread = self.smart_turn.in_thread
        self.threshold = threshold
        self.weight = weight
        self.transcript_wait = transcript_wait
        self.max_wait = max_wait

    def probability(self, turn: UserTurn) -> float:
        """The combined probability (audio alone when there is no fresh transcript)."""
        p = self.smart_turn.probability(turn)
        if turn.transcript_fresh:
            p = combine(p, transcript_signal(turn.transcript), self.weight)
        return p

    def evaluate(self, turn: UserTurn) -> Verdict:
        p = self.probability(turn)
        if p < self.threshold:
            return Verdict(self.max_wait, p, "combined: incomplete")
        if not turn.transcript_fresh and self.transcript_wait > 0:
            return Verdict(self.transcript_wait, p, "combined: complete by audio, waiting for a transcript")
        return Verdict(0.0, p, "combined: complete")
