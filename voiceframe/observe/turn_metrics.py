"""Per-turn latency: where the time between the user's last word and the bot's first sound went.

:class:`TurnMetricsObserver` watches a session and produces one :class:`TurnTiming` per answered user
turn, split by stage (all on the pipeline clock, in seconds)::

    speech end ──endpointing──▶ UserStoppedSpeaking
    speech end ──stt_final────▶ final TranscriptionFrame          (runs alongside endpointing)
    LLMContextFrame ──llm_first_token──▶ first LLMTextFrame or tool call
    first LLMTextFrame ──tts_first_audio──▶ first TTSAudioRawFrame
    first TTSAudioRawFrame ──transport──▶ BotStartedSpeakingFrame (first chunk written)
    speech end ──total (voice to voice)──▶ BotStartedSpeakingFrame

*Speech end* is the VAD's stop decision minus its ``stop_secs``. The services' own MetricsFrames
(``ttfb``, ``processing``) say how long each model took; with them ``framework_added`` is what is
left of ``total`` after the configured endpointing wait (``stop_secs``) and the time spent inside
STT/LLM/TTS models and tool handlers *on the critical path*: model intervals are merged and clipped to
the window between the VAD's stop decision and the bot's first audio, so nothing is subtracted twice.

Results come to ``on_turn`` callbacks and :attr:`TurnMetricsObserver.turns`. An observer cannot push
frames, so :class:`TurnMetricsProcessor` (anywhere in the pipeline, usually last) sends each turn on as
``MetricsFrame(kind="turn")`` with the :class:`TurnTiming` fields in ``extra``::

    turns = TurnMetricsObserver()
    pipeline = Pipeline([..., transport.output(), TurnMetricsProcessor(turns)])
    task = PipelineTask(pipeline, observers=[turns])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    LLMContextFrame,
    LLMTextFrame,
    MetricsData,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.processor import FrameDirection, FrameProcessor

__all__ = ["TurnMetricsObserver", "TurnMetricsProcessor", "TurnTiming", "service_kind"]

Interval = tuple[float, float]
TurnCallback = Callable[["TurnTiming"], Awaitable[None] | None]


@dataclass(slots=True)
class TurnTiming:
    """The latency split of one answered user turn (seconds; ``None``: the stage did not happen)."""

    index: int  #: 1 for the first user turn
    speech_end: float  #: pipeline-clock time the user's speech ended
    bot_started: float  #: pipeline-clock time the bot's first audio went out
    endpointing: float
    stt_final: float | None
    llm_first_token: float | None
    tts_first_audio: float | None
    transport: float | None
    total: float
    endpointing_wait: float  #: the configured silence (VAD ``stop_secs``)
    stt_time: float  #: inside the STT, on the critical path
    llm_time: float
    tts_time: float
    tool_time: float  #: inside tool handlers
    framework_added: float  #: total - endpointing_wait - model and tool time on the path
    llm_started: float | None = None  #: pipeline-clock time the LLM was asked (LLMContextFrame)
    ttfb: dict[str, float] = field(default_factory=dict)  #: first TTFB per service kind
    processing: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def service_kind(source: Any, data: MetricsData) -> str:
    """``stt``/``llm``/``tts``/... of a metrics reporter (its ``kind``, else guessed from its name)."""
    kind = getattr(source, "kind", None)
    if isinstance(kind, str):
        return kind
    name = data.processor.lower()
    for k in ("stt", "llm", "tts", "vad"):
        if k in name:
            return k
    return "other"


def merged_length(intervals: list[Interval], lo: float, hi: float) -> float:
    """Length of the union of ``intervals`` clipped to ``[lo, hi]``."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo))
    total, end = 0.0, lo
    for a, b in clipped:
        a = max(a, end)
        if b > a:
            total += b - a
            end = b
    return total


@dataclass(slots=True)
class _Turn:
    index: int
    vad_stop: float | None = None
    stop_secs: float = 0.0
    user_stopped: float | None = None
    transcript: float | None = None
    context: float | None = None
    llm_first: float | None = None
    texts: list[float] = field(default_factory=list)
    tool_started: float | None = None
    tool_ended: float | None = None
    first_audio: float | None = None
    models: dict[str, list[Interval]] = field(default_factory=dict)  # processing
    ttfb_intervals: dict[str, list[Interval]] = field(default_factory=dict)
    ttfb: dict[str, float] = field(default_factory=dict)
    processing: dict[str, float] = field(default_factory=dict)
    tts_request: float | None = None

    def add_metric(self, kind: str, data: MetricsData, at: float) -> None:
        interval = (at - data.value, at)
        if data.kind == "ttfb":
            self.ttfb.setdefault(kind, data.value)
            self.ttfb_intervals.setdefault(kind, []).append(interval)
            if kind == "tts" and self.tts_request is None:
                self.tts_request = interval[0]
        elif data.kind == "processing":
            self.processing.setdefault(kind, data.value)
            self.models.setdefault(kind, []).append(interval)

    def finish(self, bot_started: float) -> TurnTiming:
        assert self.user_stopped is not None
        speech_end = self.vad_stop - self.stop_secs if self.vad_stop is not None else self.user_stopped
        wait = self.stop_secs if self.vad_stop is not None else 0.0
        window = (self.vad_stop if self.vad_stop is not None else self.user_stopped, bot_started)
        request = self.tts_request if self.tts_request is not None else self.first_audio
        stt = self.models.get("stt", []) + self.ttfb_intervals.get("stt", [])
        if not stt and self.transcript is not None:
            # a streaming STT reports no model time: the wait for its final is the provider's latency
            stt.append((window[0], self.transcript))
        # time to first token, and whole runs that ended before the TTS was asked (a tool call's run)
        llm = list(self.ttfb_intervals.get("llm", []))
        llm += [iv for iv in self.models.get("llm", []) if request is None or iv[1] <= request]
        if request is not None and self.texts:
            # the TTS waits for a whole sentence: tokens still being generated are LLM time
            last = max((t for t in self.texts if t <= request), default=self.texts[0])
            llm.append((self.texts[0], last))
        tools = []
        if self.tool_started is not None:
            tools.append((self.tool_started, self.tool_ended or self.tool_started))
        tts = self.ttfb_intervals.get("tts", [])  # after the first byte, audio is the transport's
        lo, hi = window
        model = stt + llm + tools + tts
        total = bot_started - speech_end
        first_out = _first(self.llm_first, self.tool_started)
        return TurnTiming(
            index=self.index,
            speech_end=speech_end,
            bot_started=bot_started,
            endpointing=self.user_stopped - speech_end,
            stt_final=_span(speech_end, self.transcript),
            llm_first_token=_span(self.context, first_out),
            tts_first_audio=_span(self.texts[0] if self.texts else None, self.first_audio),
            transport=_span(self.first_audio, bot_started),
            total=total,
            endpointing_wait=wait,
            stt_time=merged_length(stt, lo, hi),
            llm_time=merged_length(llm, lo, hi),
            tts_time=merged_length(tts, lo, hi),
            tool_time=merged_length(tools, lo, hi),
            framework_added=max(0.0, total - wait - merged_length(model, lo, hi)),
            llm_started=self.context,
            ttfb=dict(self.ttfb),
            processing=dict(self.processing),
        )


def _first(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, end - start)


class TurnMetricsObserver(Observer):
    """Computes a :class:`TurnTiming` per answered user turn; see the module docs for the stages."""

    def __init__(self, on_turn: TurnCallback | None = None) -> None:
        self.turns: list[TurnTiming] = []
        self.unanswered = 0  #: user turns the bot never answered (e.g. the user spoke again first)
        self._callbacks: list[TurnCallback] = [on_turn] if on_turn else []
        self._seen: dict[int, None] = {}
        self._turn: _Turn | None = None
        self._count = 0
        self._vad_stop: tuple[float, float] | None = None

    def add_callback(self, callback: TurnCallback) -> None:
        """Also call ``callback(timing)`` for every turn."""
        self._callbacks.append(callback)

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        if frame.id in self._seen:
            return  # a frame is timed where it was first pushed, not at every hop
        self._seen[frame.id] = None
        if len(self._seen) > 4096:
            del self._seen[next(iter(self._seen))]
        timing = self._track(frame, event.source, event.timestamp)
        if timing is not None:
            self.turns.append(timing)
            for callback in self._callbacks:
                result = callback(timing)
                if result is not None:
                    await result

    def _track(self, frame: Frame, source: Any, t: float) -> TurnTiming | None:
        turn = self._turn
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_stop = (t, frame.stop_secs)
        elif isinstance(frame, UserStartedSpeakingFrame):
            if turn is not None and turn.user_stopped is None:
                return None  # the same start, announced both ways
            if turn is not None:
                self.unanswered += 1
            self._count += 1
            self._turn = _Turn(self._count)
        elif turn is None:
            return None
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if turn.user_stopped is None:
                turn.user_stopped = t
                if self._vad_stop is not None:
                    turn.vad_stop, turn.stop_secs = self._vad_stop
                    self._vad_stop = None
        elif isinstance(frame, TranscriptionFrame):
            if turn.context is None:
                turn.transcript = t
        elif isinstance(frame, MetricsFrame):
            for data in frame.data:
                kind = service_kind(source, data)
                # before the LLM is asked, only the STT works for this turn (the rest is the last answer)
                if kind == "stt" or turn.context is not None:
                    turn.add_metric(kind, data, t)
        elif turn.user_stopped is None:
            return None  # the bot's answer to this turn cannot start before the turn ends
        elif isinstance(frame, LLMContextFrame):
            if turn.context is None:
                turn.context = t
            elif turn.tool_started is not None and turn.tool_ended is None:
                turn.tool_ended = t
        elif turn.context is None:
            return None
        elif isinstance(frame, LLMTextFrame):
            if turn.llm_first is None:
                turn.llm_first = t
            if turn.first_audio is None:
                turn.texts.append(t)
        elif isinstance(frame, FunctionCallInProgressFrame):
            if turn.tool_started is None:
                turn.tool_started = t
        elif isinstance(frame, FunctionCallResultFrame):
            if turn.tool_ended is None:
                turn.tool_ended = t
        elif isinstance(frame, TTSAudioRawFrame):
            if turn.first_audio is None:
                turn.first_audio = t
        elif isinstance(frame, BotStartedSpeakingFrame) and turn.first_audio is not None:
            self._turn = None
            return turn.finish(t)
        return None

    async def on_session_end(self) -> None:
        if self._turn is not None:
            self.unanswered += 1
            self._turn = None


class TurnMetricsProcessor(FrameProcessor):
    """Sends each turn of ``observer`` downstream as ``MetricsFrame(kind="turn")``.

    ``value`` is the voice-to-voice total; ``extra`` holds every :class:`TurnTiming` field.
    """

    def __init__(self, observer: TurnMetricsObserver, *, name: str | None = None) -> None:
        super().__init__(name=name)
        observer.add_callback(self._on_turn)

    def _on_turn(self, timing: TurnTiming) -> None:
        if self._started and not self._ended and not self._cancelled:
            # pushed from a task of our own: the observer's task must never wait on the pipeline
            self.create_task(self._emit(timing), name=f"{self.name}:emit")

    async def _emit(self, timing: TurnTiming) -> None:
        data = MetricsData(self.name, "turn", timing.total, extra=timing.as_dict())
        await self.push(MetricsFrame(data=[data]), FrameDirection.DOWNSTREAM)
