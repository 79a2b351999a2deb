"""Record a session as JSON lines: speaking state, interruptions, transcripts, TTFB and turn metrics.

::

    recorder = SessionRecorder("session.jsonl")
    task = PipelineTask(pipeline, observers=[recorder])
    # afterwards: voiceframe timeline session.jsonl -o timeline.png

One object per line, ``{"t": <seconds since the session started>, "event": <name>, ...}``. Events:
``session`` (first line: ``session_id``, ``start`` on the pipeline clock), ``vad_started``
(``start_secs``), ``vad_stopped`` (``stop_secs``), ``user_started``, ``user_stopped``,
``transcript`` (``text``), ``bot_started``, ``bot_stopped``, ``bot_word`` (``text``, when played),
``interruption`` (``bot_speaking``), ``function_call`` (``name``, ``arguments``), ``ttfb`` and
``processing`` (``service``, ``processor``, ``value``) and ``turn`` (the
:class:`~voiceframe.observe.turn_metrics.TurnTiming` fields).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.observe.turn_metrics import TurnMetricsObserver, TurnTiming, service_kind

__all__ = ["SessionRecorder", "read_session"]

_SIMPLE: dict[type[Frame], str] = {
    UserStartedSpeakingFrame: "user_started",
    UserStoppedSpeakingFrame: "user_stopped",
    BotStartedSpeakingFrame: "bot_started",
    BotStoppedSpeakingFrame: "bot_stopped",
}


class SessionRecorder(Observer):
    """Writes ``path`` (JSON lines) as the session runs; :attr:`events` keeps them in memory too."""

    def __init__(self, path: str | Path, *, session_id: str | None = None) -> None:
        self.path = Path(path)
        self.session_id = session_id
        self.events: list[dict[str, Any]] = []
        self._file: IO[str] | None = None
        self._start: float | None = None
        self._seen: dict[int, None] = {}
        self._heard: dict[int, None] = {}
        self._calls: set[str] = set()
        self._bot_speaking = False
        self._last_bot_state: str | None = None
        self._last_user_state: str | None = None
        # turn metrics come from the same events; the recorder needs no processor in the pipeline
        self._turns = TurnMetricsObserver(on_turn=self._on_turn)
        self._now = 0.0

    def _write(self, t: float, event: str, **fields: Any) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        record = {"t": round(t - (self._start or 0.0), 6), "event": event, **fields}
        self.events.append(record)
        self._file.write(json.dumps(record, default=str) + "\n")

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        first = frame.id not in self._seen
        await self._turns.on_push(event)
        if isinstance(frame, TTSTextFrame) and self._start is not None and _from_output(event):
            if frame.id not in self._heard:  # a word counts when the output transport releases it
                self._heard[frame.id] = None
                if len(self._heard) > 4096:
                    del self._heard[next(iter(self._heard))]
                self._write(event.timestamp, "bot_word", text=frame.text)
            return
        if not first:
            return
        self._seen[frame.id] = None
        if len(self._seen) > 4096:
            del self._seen[next(iter(self._seen))]
        t = self._now = event.timestamp
        if self._start is None:
            self._start = t
            sid = self.session_id or getattr(getattr(event.source, "context", None), "session_id", None)
            self._write(t, "session", session_id=sid or "", start=t)
        if isinstance(frame, tuple(_SIMPLE)):
            name = _SIMPLE[type(frame)]
            # both ways as two frames: one line per change of state
            if name.startswith("bot"):
                if name == self._last_bot_state:
                    return
                self._last_bot_state = name
                self._bot_speaking = name == "bot_started"
            else:
                if name == self._last_user_state:
                    return
                self._last_user_state = name
            self._write(t, name)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._write(t, "vad_started", start_secs=frame.start_secs)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._write(t, "vad_stopped", stop_secs=frame.stop_secs)
        elif isinstance(frame, TranscriptionFrame):
            self._write(t, "transcript", text=frame.text)
        elif isinstance(frame, InterruptionFrame):
            self._write(t, "interruption", bot_speaking=self._bot_speaking)
        elif isinstance(frame, FunctionCallInProgressFrame):
            if frame.tool_call_id not in self._calls:  # also announced upstream, as a second frame
                self._calls.add(frame.tool_call_id)
                self._write(t, "function_call", name=frame.function_name, arguments=frame.arguments)
        elif isinstance(frame, MetricsFrame):
            for data in frame.data:
                if data.kind in ("ttfb", "processing"):
                    kind = service_kind(event.source, data)
                    self._write(t, data.kind, service=kind, processor=data.processor, value=data.value)

    def _on_turn(self, timing: TurnTiming) -> None:
        self._write(self._now, "turn", **timing.as_dict())

    async def on_session_end(self) -> None:
        await self._turns.on_session_end()
        if self._file is None:
            self._write(self._now, "session", session_id=self.session_id or "", start=0.0)
        assert self._file is not None
        self._file.close()


def read_session(path: str | Path) -> list[dict[str, Any]]:
    """The events of a recorded session."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _from_output(event: PushEvent) -> bool:
    from voiceframe.transports.output import OutputTransport

    return isinstance(event.source, OutputTransport)
