"""A conversation log: who said what, when, and how long the bot took to answer each turn.

It is an observer, so it never slows the pipeline. Bot text is what the user *heard* (words released by
the output transport), and the latency of a turn is from the end of the user's speech (the VAD's stop
decision minus its ``stop_secs``) to the first bot audio played. Times are seconds since the session
started (its StartFrame), on the real clock as on the virtual one.

>>> log = ConversationLog()      # task = PipelineTask(pipeline, observers=[log])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    StartFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.observe.observer import Observer, PushEvent


@dataclass
class Turn:
    """One exchange: the user's words and the bot's heard answer."""

    user_text: str = ""
    user_started: float | None = None
    user_stopped: float | None = None
    speech_ended: float | None = None
    bot_started: float | None = None
    bot_words: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def bot_text(self) -> str:
        return " ".join(self.bot_words)

    @property
    def latency(self) -> float | None:
        """Seconds from the end of the user's speech to the first bot audio."""
        if self.bot_started is None or self.speech_ended is None:
            return None
        return self.bot_started - self.speech_ended


_WATCHED = (
    BotStoppedSpeakingFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    InterruptionFrame,
    FunctionCallInProgressFrame,
    StartFrame,
)


class ConversationLog(Observer):
    """Collects :class:`Turn` s; ``on_turn`` (if given) is called when a bot answer starts playing."""

    frame_types = _WATCHED

    def __init__(self, *, on_line: Callable[[str], None] | None = None) -> None:
        self.turns: list[Turn] = [Turn()]  # turn 0: what the bot says before the user speaks
        self.on_line = on_line
        self._seen: set[int] = set()
        self._bot_speaking = False
        self._calls: set[str] = set()
        #: pipeline-clock time the session started (its StartFrame); every time here is relative to it
        self.origin: float | None = None
        #: VAD speech starts, even those that never became a turn (too short, or ignored while muted)
        self.speech_starts = 0

    @property
    def user_turns(self) -> list[Turn]:
        """The turns the user spoke (turn 0, the bot's greeting, excluded)."""
        return self.turns[1:]

    @property
    def current(self) -> Turn:
        return self.turns[-1]

    def _emit(self, line: str) -> None:
        if self.on_line is not None:
            self.on_line(line)

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        if not isinstance(frame, _WATCHED) or frame.id in self._seen:
            return
        if isinstance(frame, TTSTextFrame) and not _from_output(event):
            return  # a word counts once the output transport releases it (it was heard)
        self._seen.add(frame.id)
        if len(self._seen) > 10_000:
            self._seen.clear()  # ids only guard against seeing one frame at several hops
        if self.origin is None:
            # the loop clock's zero is arbitrary (hours on a real clock): count from the session's start
            self.origin = event.timestamp
        t = event.timestamp - self.origin
        turn = self.current
        if isinstance(frame, StartFrame):
            return
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self.speech_starts += 1
        elif isinstance(frame, UserStartedSpeakingFrame):
            if turn.user_started is not None and turn.user_stopped is None:
                return  # the same start, sent both ways as two frames
            self._finish_bot_line()
            self.turns.append(Turn(user_started=t))
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            turn.speech_ended = t - frame.stop_secs
        elif isinstance(frame, UserStoppedSpeakingFrame):
            turn.user_stopped = t
        elif isinstance(frame, TranscriptionFrame):
            turn.user_text = f"{turn.user_text} {frame.text}".strip()
            self._emit(f"[{t:7.2f}s] user: {frame.text}")
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            if turn.bot_started is None:
                turn.bot_started = t
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, TTSTextFrame):
            turn.bot_words.append(frame.text)
        elif isinstance(frame, InterruptionFrame):
            # every user turn start interrupts; it cut the bot off only if the bot was talking
            if self._bot_speaking:
                turn.interrupted = True
        elif isinstance(frame, FunctionCallInProgressFrame) and frame.tool_call_id not in self._calls:
            self._calls.add(frame.tool_call_id)  # announced both ways, as two frames: count it once
            turn.tools.append(frame.function_name)

    def _finish_bot_line(self) -> None:
        turn = self.current
        if turn.bot_words:
            latency = f" (answered in {turn.latency:.2f} s)" if turn.latency is not None else ""
            cut = " [interrupted]" if turn.interrupted else ""
            tools = f" [tools: {', '.join(turn.tools)}]" if turn.tools else ""
            start = turn.bot_started or 0.0
            self._emit(f"[{start:7.2f}s] bot{latency}{tools}: {turn.bot_text}{cut}")

    async def on_session_end(self) -> None:
        self._finish_bot_line()


def _from_output(event: PushEvent) -> bool:
    from voiceframe.transports.output import OutputTransport

    return isinstance(event.source, OutputTransport)
