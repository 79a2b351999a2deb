"""OpenTelemetry spans per turn and per service, checked with the SDK's in-memory exporter."""

from __future__ import annotations

import sys

import pytest

from tests.observe.test_turn_metrics import STT, plain_turn
from voiceframe.frames import StartFrame
from voiceframe.observe.observer import PushEvent
from voiceframe.processor import DOWNSTREAM

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voiceframe.observe.tracing import TurnTracer


async def test_one_span_per_turn_with_child_spans_per_service() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = TurnTracer(tracer_provider=provider, session_id="call-7")
    timeline = [(0.0, StartFrame(), STT), *plain_turn(offset=1.0), *plain_turn(offset=4.0)]
    for t, frame, source in timeline:
        await tracer.on_push(PushEvent(source, None, frame, DOWNSTREAM, t))
    await tracer.on_session_end()

    spans = exporter.get_finished_spans()
    [session] = [s for s in spans if s.name == "session"]
    turns = sorted((s for s in spans if s.name == "turn"), key=lambda s: s.start_time or 0)
    assert len(turns) == 2
    assert session.attributes is not None and session.attributes["voiceframe.session_id"] == "call-7"
    for turn in turns:
        assert turn.parent is not None and turn.parent.span_id == session.context.span_id
        assert turn.context.trace_id == session.context.trace_id
        assert turn.end_time is not None and turn.start_time is not None
        assert (turn.end_time - turn.start_time) / 1e9 == pytest.approx(1.12, abs=1e-6)  # speech end -> bot
        assert turn.attributes is not None
        assert turn.attributes["voiceframe.turn.framework_added"] == pytest.approx(0.09)
        assert turn.attributes["voiceframe.ttfb.llm"] == pytest.approx(0.19)
        children = {
            s.name: s for s in spans if s.parent is not None and s.parent.span_id == turn.context.span_id
        }
        assert set(children) == {"endpointing", "stt", "llm", "tts", "transport"}
        expected = {"endpointing": 0.61, "stt": 0.75, "llm": 0.20, "tts": 0.14, "transport": 0.02}
        for name, seconds in expected.items():
            span = children[name]
            assert span.end_time is not None and span.start_time is not None
            assert (span.end_time - span.start_time) / 1e9 == pytest.approx(seconds, abs=1e-6)
        # children sit inside their turn, in order: the LLM starts after the transcript arrived
        assert all(
            turn.start_time <= (c.start_time or 0) <= (c.end_time or 0) <= turn.end_time
            for c in children.values()
        )
        assert (children["llm"].start_time or 0) >= (children["stt"].end_time or 0)
    assert (session.end_time or 0) >= (turns[-1].end_time or 0)


def test_missing_extra_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'voiceframe\[tracing\]'"):
        TurnTracer()
