"""Run the offline demo bot on WAV files and record each turn's timeline (for ``latency``/``sessions``).

Events come from an observer (frame push times on the pipeline clock); model time comes from thin
wrappers around the bot's own STT/LLM/TTS/end-of-turn calls, so the suite needs nothing from the
services beyond their public methods.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceframe.bench.stages import Intervals, TurnTimeline
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    LLMContextFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    now,
)
from voiceframe.observe.observer import Observer, PushEvent

_WATCHED = (
    UserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStoppedSpeakingFrame,
    TranscriptionFrame,
    LLMContextFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    BotStartedSpeakingFrame,
)

#: what the simulated user says; all in the demo's pocketsphinx grammar, "goodbye" left out (it ends calls)
PHRASES = ["hello", "what is the weather", "tell me something funny", "good morning", "what is the time"]


class TimelineObserver(Observer):
    """Keeps the first push of every watched frame: ``(time, frame)`` in order."""

    max_pending = 100_000
    # only these reach on_push: the 50-per-second audio frames do not cost the measured loop anything
    frame_types = _WATCHED

    def __init__(self) -> None:
        self.events: list[tuple[float, Any]] = []
        self._seen: set[int] = set()

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        if isinstance(frame, _WATCHED) and frame.id not in self._seen:
            self._seen.add(frame.id)
            self.events.append((event.timestamp, frame))


@dataclass
class ModelTimes:
    """Pipeline-clock intervals spent inside each model call, and when each synthesis began."""

    turn_model: Intervals = field(default_factory=list)
    stt: Intervals = field(default_factory=list)
    llm: Intervals = field(default_factory=list)
    tts: Intervals = field(default_factory=list)
    tts_calls: list[float] = field(default_factory=list)


def _timed_call(fn: Callable[..., Any], into: Intervals) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = now()
        try:
            return await fn(*args, **kwargs)
        finally:
            into.append((t, now()))

    return wrapper


def _timed_stream(
    fn: Callable[..., AsyncIterator[Any]], into: Intervals, calls: list[float] | None = None
) -> Any:
    # time spent awaiting each item is the model's; time between items is the pipeline's
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if calls is not None:
            calls.append(now())
        it = fn(*args, **kwargs).__aiter__()
        while True:
            t = now()
            try:
                item = await it.__anext__()
            except StopAsyncIteration:
                into.append((t, now()))
                return
            into.append((t, now()))
            yield item

    return wrapper


def _timed_sync(fn: Callable[..., Any], into: Intervals) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = now()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append((t, now()))

    return wrapper


def instrument(bot: Any) -> ModelTimes:
    """Wrap ``bot``'s model calls (instance attributes; the classes are untouched)."""
    times = ModelTimes()
    setattr(bot.stt, "transcribe", _timed_call(bot.stt.transcribe, times.stt))  # noqa: B010
    setattr(bot.llm, "stream", _timed_stream(bot.llm.stream, times.llm))  # noqa: B010
    setattr(bot.tts, "synthesize", _timed_stream(bot.tts.synthesize, times.tts, times.tts_calls))  # noqa: B010
    strategy = getattr(bot.turns, "strategy", None)
    if strategy is not None:
        setattr(strategy, "evaluate", _timed_sync(strategy.evaluate, times.turn_model))  # noqa: B010
    return times


@dataclass
class _Open:
    vad_stop: float | None = None
    stop_secs: float = 0.0
    user_stopped: float | None = None
    transcripts: list[float] = field(default_factory=list)
    context: float | None = None
    first_token: float | None = None
    first_audio: float | None = None


def build_timelines(events: list[tuple[float, Any]], times: ModelTimes) -> tuple[list[TurnTimeline], int]:
    """Answered user turns as timelines, and how many user turns got no answer (interrupted, lost)."""
    out: list[TurnTimeline] = []
    cur: _Open | None = None
    unanswered = 0
    for t, f in events:
        if isinstance(f, UserStartedSpeakingFrame):
            if cur is not None and cur.user_stopped is None:
                continue  # the same start, seen both ways
            if cur is not None:
                unanswered += 1
            cur = _Open()
        elif cur is None:
            continue  # the greeting, before any user turn
        elif isinstance(f, VADUserStoppedSpeakingFrame) and cur.user_stopped is None:
            cur.vad_stop, cur.stop_secs = t, f.stop_secs
        elif isinstance(f, UserStoppedSpeakingFrame) and cur.user_stopped is None:
            cur.user_stopped = t
        elif isinstance(f, TranscriptionFrame) and cur.context is None:
            cur.transcripts.append(t)
        elif isinstance(f, LLMContextFrame) and cur.user_stopped is not None and cur.context is None:
            cur.context = t
        elif isinstance(f, LLMTextFrame) and cur.context is not None and cur.first_token is None:
            cur.first_token = t
        elif isinstance(f, TTSAudioRawFrame) and cur.first_token is not None and cur.first_audio is None:
            cur.first_audio = t
        elif isinstance(f, BotStartedSpeakingFrame) and cur.first_audio is not None:
            assert cur.vad_stop is not None and cur.user_stopped is not None
            assert cur.context is not None and cur.first_token is not None
            first_token = cur.first_token
            out.append(
                TurnTimeline(
                    vad_stop=cur.vad_stop,
                    stop_secs=cur.stop_secs,
                    user_stopped=cur.user_stopped,
                    context=cur.context,
                    first_token=first_token,
                    first_audio=cur.first_audio,
                    bot_started=t,
                    transcript=cur.transcripts[-1] if cur.transcripts else None,
                    tts_call=next((c for c in times.tts_calls if c >= first_token), None),
                    turn_model=times.turn_model,
                    stt=times.stt,
                    llm=times.llm,
                    tts=times.tts,
                )
            )
            cur = None
    if cur is not None:
        unanswered += 1
    return out, unanswered


def make_user_wav(
    path: Path, n_turns: int, *, pause: float, gap: float, seed: int = 0, phrases: list[str] = PHRASES
) -> None:
    """``n_turns`` of ``phrases`` spoken by espeak-ng: ``pause`` (varied) + speech + ``gap`` each."""
    from voiceframe.demo import make_script_wav

    # make_script_wav speaks at one rate; phrases and pauses vary per turn instead
    script = [(pause + 0.25 * ((i + seed) % 3), phrases[(i + seed) % len(phrases)]) for i in range(n_turns)]
    make_script_wav(path, script, gap=gap)


@dataclass
class SessionRun:
    timelines: list[TurnTimeline]
    unanswered: int
    dropped_events: int
    errors: list[str]
    real_seconds: float
    observed: list[Any] = field(default_factory=list)  # TurnTiming of voiceframe.observe.turn_metrics


async def run_session(wav_in: Path, wav_out: Path) -> SessionRun:
    """One session of the offline demo bot on ``wav_in`` (on whatever clock the running loop has)."""
    from voiceframe.bot import build_bot, run_bot
    from voiceframe.demo import DEMO_TOOLS, demo_config
    from voiceframe.task import PipelineParams
    from voiceframe.transports.file import FileTransport

    bot = build_bot(demo_config(), FileTransport(wav_in, wav_out), tools=DEMO_TOOLS)
    times = instrument(bot)
    observer = TimelineObserver()
    observers: list[Observer] = [observer]
    turn_metrics = _turn_metrics_observer()
    if turn_metrics is not None:
        observers.append(turn_metrics)
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000)
    started = time.perf_counter()
    task = await run_bot(bot, observers=observers, params=params)
    real = time.perf_counter() - started
    timelines, unanswered = build_timelines(observer.events, times)
    hub = getattr(task, "_hub", None)  # private, read only to report dropped observer events
    dropped = int(getattr(hub, "dropped", 0) or 0)
    errors = [str(e.error) for e in task.errors]
    observed = list(getattr(turn_metrics, "turns", []))
    return SessionRun(timelines, unanswered, dropped, errors, real, observed)


def _turn_metrics_observer() -> Observer | None:
    """The framework's own per-turn observer, when this voiceframe has it (cross-checks ours)."""
    try:
        from voiceframe.observe.turn_metrics import TurnMetricsObserver
    except ImportError:
        return None
    return TurnMetricsObserver()
