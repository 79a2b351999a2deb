"""OpenTelemetry traces of a session: a span per user turn, with child spans per stage and service.

Needs the ``tracing`` extra (``pip install 'voiceframe[tracing]'``); it is imported only when a
:class:`TurnTracer` is made. Spans come from the same data as
:class:`~voiceframe.observe.turn_metrics.TurnTiming`::

    session ─┬─ turn 1 ─┬─ endpointing   speech end → user turn over
             │          ├─ stt           speech end → final transcript
             │          ├─ llm           LLM asked → first token (or tool call)
             │          ├─ tts           first text → first audio
             │          └─ transport     first audio → out to the user
             └─ turn 2 ...

    tracer = TurnTracer()                 # the global tracer provider, or tracer_provider=...
    task = PipelineTask(pipeline, observers=[tracer])

Span times are the pipeline clock mapped onto wall-clock time when the session's first frame was
seen, so on the virtual clock a trace still shows the conversation's own timing.
"""

from __future__ import annotations

import time
from typing import Any

from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.observe.turn_metrics import TurnMetricsObserver, TurnTiming

__all__ = ["TurnTracer"]


def _require_otel() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ImportError(f"tracing needs OpenTelemetry ({exc}): pip install 'voiceframe[tracing]'") from None
    return trace


class TurnTracer(Observer):
    """Exports a ``session`` span with one ``turn`` span per answered user turn."""

    def __init__(self, *, tracer_provider: Any = None, session_id: str | None = None) -> None:
        trace = _require_otel()
        self._trace = trace
        self._tracer = trace.get_tracer("voiceframe", tracer_provider=tracer_provider)
        self.session_id = session_id
        self._turns = TurnMetricsObserver(on_turn=self._on_turn)
        self._offset: int | None = None  # wall-clock ns minus pipeline-clock ns
        self._session: Any = None
        self._last = 0.0

    def _ns(self, t: float) -> int:
        return int(t * 1e9) + (self._offset or 0)

    async def on_push(self, event: PushEvent) -> None:
        if self._offset is None:
            self._offset = time.time_ns() - int(event.timestamp * 1e9)
            sid = self.session_id or getattr(getattr(event.source, "context", None), "session_id", "")
            self.session_id = sid
            self._session = self._tracer.start_span(
                "session", start_time=self._ns(event.timestamp), attributes={"voiceframe.session_id": sid}
            )
        self._last = event.timestamp
        await self._turns.on_push(event)

    def _on_turn(self, timing: TurnTiming) -> None:
        ctx = self._trace.set_span_in_context(self._session)
        attributes: dict[str, Any] = {"voiceframe.session_id": self.session_id or ""}
        for key, value in timing.as_dict().items():
            if isinstance(value, int | float):
                attributes[f"voiceframe.turn.{key}"] = value
            elif isinstance(value, dict):
                attributes.update({f"voiceframe.{key}.{k}": v for k, v in value.items()})
        turn = self._tracer.start_span(
            "turn", context=ctx, start_time=self._ns(timing.speech_end), attributes=attributes
        )
        child = self._trace.set_span_in_context(turn)
        first_audio = timing.bot_started - (timing.transport or 0.0)
        stages: list[tuple[str, float | None, float | None]] = [
            ("endpointing", timing.speech_end, timing.endpointing),
            ("stt", timing.speech_end, timing.stt_final),
            ("llm", timing.llm_started, timing.llm_first_token),
            ("tts", first_audio - (timing.tts_first_audio or 0.0), timing.tts_first_audio),
            ("transport", first_audio, timing.transport),
        ]
        for name, start, duration in stages:
            if start is None or duration is None:
                continue
            span = self._tracer.start_span(name, context=child, start_time=self._ns(start))
            if name in timing.ttfb:
                span.set_attribute("voiceframe.ttfb", timing.ttfb[name])
            span.end(end_time=self._ns(start + duration))
        turn.end(end_time=self._ns(timing.bot_started))

    async def on_session_end(self) -> None:
        await self._turns.on_session_end()
        if self._session is not None:
            self._session.end(end_time=self._ns(self._last))
