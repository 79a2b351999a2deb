"""DeepgramTTSService (Aura over HTTP) against the local Deepgram protocol server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from voiceframe_deepgram import DeepgramTTSService
from voiceframe_deepgram.testing import FakeDeepgramServer, benchmark_ttfb

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
async def dg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDeepgramServer]:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    async with FakeDeepgramServer() as server:
        yield server


def tts(server: FakeDeepgramServer, **settings: object) -> DeepgramTTSService:
    service = DeepgramTTSService(base_url=server.http_url, **settings)
    service.backoff = Backoff(initial=0.02, maximum=0.1)
    return service


async def test_streams_one_request_per_sentence_with_estimated_word_times(dg: FakeDeepgramServer) -> None:
    frames = [
        LLMFullResponseStartFrame(),
        LLMTextFrame(text="Hello there. "),
        LLMTextFrame(text="How are you?"),
        LLMFullResponseEndFrame(),
    ]
    result = await run_processor(tts(dg), frames, virtual=False, params=OUT24K)
    assert [r.text for r in dg.speak_requests] == ["Hello there.", "How are you?"]
    q = dg.speak_requests[0].query
    assert q == {
        "model": "aura-2-thalia-en",
        "encoding": "linear16",
        "sample_rate": "24000",
        "container": "none",
    }
    assert all(r.completed for r in dg.speak_requests)
    audio = result.of_type(TTSAudioRawFrame)
    # 0.02 s of audio per character from the server, all of it, in order
    assert sum(a.duration for a in audio) == pytest.approx((12 + 12) * 0.02, abs=1e-3)
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there.", "How", "are", "you?"]
    # Aura has no timestamps: the base estimates them; the second sentence follows the first's audio
    assert words[0].pts == 0.0 and words[2].pts == pytest.approx(0.24, abs=1e-3)


async def test_interruption_closes_the_response_mid_stream(dg: FakeDeepgramServer) -> None:
    dg.tts_chunk_delay = 0.02  # 1920 bytes per 20 ms: about real time
    text = "This is a rather long sentence that takes a while to say out loud."
    result = await run_processor(
        tts(dg), [TTSSpeakFrame(text=text), Wait(0.15), InterruptionFrame(), Wait(0.2)], virtual=False
    )
    [request] = dg.speak_requests
    assert request.disconnected and not request.completed
    assert 0 < request.bytes_sent < len(text) * 0.02 * 24000 * 2
    assert result.errors == []


async def test_bad_key_is_fatal_and_names_the_variable(
    dg: FakeDeepgramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "nope")
    result = await run_processor(tts(dg), [TTSSpeakFrame(text="Hi.")], virtual=False)
    [error] = result.errors
    assert error.fatal and "HTTP 401 INVALID_AUTH" in error.error and "DEEPGRAM_API_KEY" in error.error
    assert dg.rejected == [401]


async def test_rate_limit_is_retried_with_backoff(dg: FakeDeepgramServer) -> None:
    dg.reject = [(429, "0.05"), (429, None)]
    result = await run_processor(tts(dg), [TTSSpeakFrame(text="Hello.")], virtual=False)
    assert dg.rejected == [429, 429]
    assert [r.text for r in dg.speak_requests] == ["Hello."] and dg.speak_requests[0].completed
    assert result.of_type(TTSAudioRawFrame) and result.errors == []


async def test_rate_limit_that_persists_is_reported(dg: FakeDeepgramServer) -> None:
    dg.reject = [(429, "0.01")] * 3
    result = await run_processor(tts(dg, max_retries=2), [TTSSpeakFrame(text="Hello.")], virtual=False)
    [error] = result.errors
    assert "gave up after 3 attempts" in error.error and "429" in error.error and not error.fatal


async def test_broken_stream_is_an_error_and_the_next_sentence_works(dg: FakeDeepgramServer) -> None:
    dg.tts_chunk_bytes = 480
    dg.speak_faults = ["drop"]
    frames = [TTSSpeakFrame(text="This one breaks off."), TTSSpeakFrame(text="This one works.")]
    result = await asyncio.wait_for(run_processor(tts(dg), frames, virtual=False), 10)
    [error] = result.errors
    assert "stream broke off" in error.error or "connection" in error.error.lower()
    assert dg.speak_requests[1].completed
    assert "works." in [w.text for w in result.of_type(TTSTextFrame)]


async def test_benchmark_reports_plugin_overhead() -> None:
    report = await benchmark_ttfb(iterations=5)
    for part in ("tts", "stt"):
        assert report[part]["iterations"] >= 4
        assert report[part]["overhead_ms"] < 20  # loose: CI machines vary; the README has real numbers
