"""CartesiaTTSService against the local Cartesia protocol server (real sockets, real clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from voiceframe_cartesia import CartesiaTTSService, CartesiaTTSSettings
from voiceframe_cartesia.testing import FakeCartesiaServer, benchmark_ttfb

from voiceframe.frames import (
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
)
from voiceframe.services.backoff import Backoff
from voiceframe.task import PipelineParams
from voiceframe.testing import Wait, run_processor

OUT24K = PipelineParams(audio_out_sample_rate=24000)


@pytest.fixture
async def cartesia(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeCartesiaServer]:
    monkeypatch.setenv("CARTESIA_API_KEY", "test-key")
    async with FakeCartesiaServer() as server:
        yield server


def tts(server: FakeCartesiaServer, **settings: object) -> CartesiaTTSService:
    service = CartesiaTTSService(base_url=server.url, **settings)
    service.backoff = Backoff(initial=0.02, maximum=0.1)
    return service


async def test_one_connection_one_context_per_sentence_with_word_timestamps(
    cartesia: FakeCartesiaServer,
) -> None:
    frames = [
        LLMFullResponseStartFrame(),
        LLMTextFrame(text="Hello there. "),
        LLMTextFrame(text="How are you?"),
        LLMFullResponseEndFrame(),
    ]
    result = await run_processor(tts(cartesia), frames, virtual=False, params=OUT24K)
    assert len(cartesia.connections) == 1  # reused across sentences
    assert cartesia.connections[0] == {"api_key": "test-key", "cartesia_version": "2024-11-13"}
    contexts = list(cartesia.contexts.values())
    assert [c.transcript for c in contexts] == ["Hello there.", "How are you?"]
    request = contexts[0].requests[0]
    assert request["voice"] == {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"}
    assert request["output_format"] == {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000}
    assert request["add_timestamps"] is True and request["continue"] is False
    assert all(c.done for c in contexts) and cartesia.cancels == []
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there.", "How", "are", "you?"]
    # Cartesia's own timestamps (0.02 s per character + 1), placed on the utterance's timeline
    assert [w.pts for w in words] == pytest.approx([0.0, 0.12, 0.26, 0.34, 0.42], abs=1e-6)
    assert sum(a.duration for a in result.of_type(TTSAudioRawFrame)) == pytest.approx(0.52, abs=1e-3)
    assert result.errors == []


async def test_interruption_cancels_the_context_and_drops_its_late_audio(
    cartesia: FakeCartesiaServer,
) -> None:
    cartesia.chunk_delay = 0.05
    text = "one two three four five six seven eight nine ten eleven twelve"
    result = await run_processor(
        tts(cartesia), [TTSSpeakFrame(text=text), Wait(0.12), InterruptionFrame(), Wait(0.3)], virtual=False
    )
    [context] = cartesia.contexts.values()
    assert cartesia.cancels == [context.context_id] and context.cancelled and not context.done
    assert 1 <= context.chunks_sent < 12
    before = [w.text for w in result.of_type(TTSTextFrame)]
    assert before == text.split()[: len(before)] and len(before) < 12
    assert result.errors == []


async def test_streaming_input_uses_continue_on_one_context(cartesia: FakeCartesiaServer) -> None:
    service = CartesiaTTSService(
        settings=CartesiaTTSSettings(api_key=SecretStr("test-key"), base_url=cartesia.url)
    )
    service.sample_rate = 24000
    await service.connect()

    async def tokens() -> AsyncIterator[str]:
        for part in ["Streaming ", "input ", "works."]:
            await asyncio.sleep(0.01)
            yield part

    try:
        words = [w.word async for c in service.synthesize_stream(tokens()) for w in c.words]
    finally:
        await service.disconnect()
    [context] = cartesia.contexts.values()
    assert [(r["transcript"], r["continue"]) for r in context.requests] == [
        ("Streaming ", True),
        ("input ", True),
        ("works.", True),
        ("", False),
    ]
    assert words == ["Streaming", "input", "works."] and context.done


async def test_reconnects_after_the_server_drops_the_connection(cartesia: FakeCartesiaServer) -> None:
    cartesia.faults = ["drop"]
    frames = [TTSSpeakFrame(text="This one is cut off."), TTSSpeakFrame(text="This one works.")]
    result = await asyncio.wait_for(run_processor(tts(cartesia), frames, virtual=False), 10)
    [error] = result.errors
    assert "Cartesia closed the connection" in error.error and not error.fatal
    assert len(cartesia.connections) == 2
    assert "works." in [w.text for w in result.of_type(TTSTextFrame)]


async def test_bad_key_fails_the_upgrade_and_names_the_variable(
    cartesia: FakeCartesiaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTESIA_API_KEY", "wrong")
    result = await run_processor(tts(cartesia), [TTSSpeakFrame(text="Hi.")], virtual=False)
    first = result.errors[0]
    assert first.fatal and "HTTP 401" in first.error and "CARTESIA_API_KEY" in first.error
    assert cartesia.connections == []


async def test_rate_limited_upgrade_is_retried(cartesia: FakeCartesiaServer) -> None:
    cartesia.reject = [(429, "0.05"), (429, None)]
    result = await run_processor(tts(cartesia), [TTSSpeakFrame(text="Hello.")], virtual=False)
    assert cartesia.rejected == [429, 429] and len(cartesia.connections) == 1
    assert result.of_type(TTSAudioRawFrame) and result.errors == []


async def test_malformed_message_and_error_reply_are_reported_without_hanging(
    cartesia: FakeCartesiaServer,
) -> None:
    cartesia.faults = ["malformed", "error"]
    frames = [
        TTSSpeakFrame(text="First goes wrong."),
        TTSSpeakFrame(text="Second too."),
        TTSSpeakFrame(text="Ok."),
    ]
    result = await asyncio.wait_for(run_processor(tts(cartesia), frames, virtual=False), 10)
    reported = [e.error for e in result.errors]
    assert len(reported) == 2
    assert "malformed response from" in reported[0] and "status 500" in reported[1]
    assert "Ok." in [w.text for w in result.of_type(TTSTextFrame)]


async def test_benchmark_reports_plugin_overhead() -> None:
    report = await benchmark_ttfb(iterations=5)
    assert report["tts"]["iterations"] == 5 and report["tts"]["overhead_ms"] < 20
