"""ElevenLabsTTSService against the local ElevenLabs stream-input server (real sockets, real clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from voiceframe_elevenlabs import ElevenLabsTTSService
from voiceframe_elevenlabs.testing import FakeElevenLabsServer, benchmark_ttfb

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
async def el(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeElevenLabsServer]:
    monkeypatch.setenv("ELEVENLABS_API_KEY", "test-key")
    async with FakeElevenLabsServer() as server:
        yield server


def tts(server: FakeElevenLabsServer, **settings: object) -> ElevenLabsTTSService:
    service = ElevenLabsTTSService(base_url=server.url, **settings)
    service.backoff = Backoff(initial=0.02, maximum=0.1)
    return service


async def test_streams_with_word_times_from_character_alignment(el: FakeElevenLabsServer) -> None:
    frames = [
        LLMFullResponseStartFrame(),
        LLMTextFrame(text="Hello there friend. "),
        LLMTextFrame(text="Bye now."),
        LLMFullResponseEndFrame(),
    ]
    result = await run_processor(tts(el, stability=0.5), frames, virtual=False, params=OUT24K)
    spoken = [s for s in el.sessions if s.text]
    assert [s.text for s in spoken] == ["Hello there friend.", "Bye now."]
    first = spoken[0]
    assert first.voice_id == "21m00Tcm4TlvDq8ikWAM"
    assert first.query == {
        "model_id": "eleven_flash_v2_5",
        "output_format": "pcm_24000",
        "inactivity_timeout": "20",
    }
    assert first.messages[0] == {"text": " ", "voice_settings": {"stability": 0.5}}
    assert first.messages[1] == {"text": "Hello there friend. ", "flush": True}
    assert first.messages[2] == {"text": ""} and first.final_sent and first.close_code == 1000
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there", "friend.", "Bye", "now."]
    # 0.02 s per character, chunks of 7 characters: "there" spans two chunks; the second sentence
    # starts after the audio of the first one's 20 characters (with the trailing space)
    assert [w.pts for w in words] == pytest.approx([0.0, 0.12, 0.24, 0.40, 0.48], abs=1e-6)
    assert sum(a.duration for a in result.of_type(TTSAudioRawFrame)) == pytest.approx(0.40 + 0.18, abs=1e-3)
    assert result.errors == []


async def test_interruption_closes_the_socket_before_the_end(el: FakeElevenLabsServer) -> None:
    el.chunk_delay = 0.05
    text = "This sentence is long enough to be interrupted before its end arrives."
    result = await run_processor(
        tts(el), [TTSSpeakFrame(text=text), Wait(0.15), InterruptionFrame(), Wait(0.2)], virtual=False
    )
    [session] = [s for s in el.sessions if s.text]
    assert session.closed_by_client_early and not session.final_sent and session.close_code == 1000
    assert 1 <= session.chunks_sent < len(text) // 7
    assert result.errors == []


async def test_next_sentence_uses_a_prewarmed_socket(el: FakeElevenLabsServer) -> None:
    service = tts(el)
    frames = [TTSSpeakFrame(text="One."), Wait(0.1), TTSSpeakFrame(text="Two.")]
    await run_processor(service, frames, virtual=False)
    # the socket for "Two." was opened and initialised while "One." was being spoken
    spoken = [s for s in el.sessions if s.text]
    assert [s.text for s in spoken] == ["One.", "Two."]
    assert spoken[1].messages[0] == {"text": " "}
    assert spoken[1].opened_at < spoken[0].text_at + 0.05 < spoken[1].text_at


async def test_dropped_connection_is_reported_and_the_next_sentence_works(el: FakeElevenLabsServer) -> None:
    el.faults = ["drop"]
    frames = [TTSSpeakFrame(text="This is cut off."), TTSSpeakFrame(text="This works.")]
    result = await asyncio.wait_for(run_processor(tts(el), frames, virtual=False), 10)
    [error] = result.errors
    assert "ElevenLabs" in error.error and not error.fatal
    assert "works." in [w.text for w in result.of_type(TTSTextFrame)]


async def test_stale_prewarmed_socket_is_replaced(el: FakeElevenLabsServer) -> None:
    el.inactivity = 0.1  # the server closes idle sockets with 1008 input_timeout_exceeded
    result = await run_processor(tts(el), [Wait(0.3), TTSSpeakFrame(text="Still works.")], virtual=False)
    assert el.sessions[0].close_code == 1008
    assert [w.text for w in result.of_type(TTSTextFrame)] == ["Still", "works."]
    assert result.errors == []


async def test_bad_key_fails_the_upgrade_and_names_the_variable(
    el: FakeElevenLabsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEVENLABS_API_KEY", "wrong")
    result = await run_processor(tts(el), [TTSSpeakFrame(text="Hi.")], virtual=False)
    first = result.errors[0]
    assert first.fatal and "HTTP 401 invalid_api_key" in first.error and "ELEVENLABS_API_KEY" in first.error
    assert el.sessions == []


async def test_rate_limited_upgrade_is_retried(el: FakeElevenLabsServer) -> None:
    el.reject = [(429, "0.05"), (429, None)]
    result = await run_processor(tts(el), [TTSSpeakFrame(text="Hello.")], virtual=False)
    assert el.rejected == [429, 429]
    assert result.of_type(TTSAudioRawFrame) and result.errors == []


async def test_malformed_message_and_error_message_are_reported_without_hanging(
    el: FakeElevenLabsServer,
) -> None:
    el.faults = ["malformed", "quota"]
    frames = [
        TTSSpeakFrame(text="Goes wrong."),
        TTSSpeakFrame(text="Also wrong."),
        TTSSpeakFrame(text="Fine."),
    ]
    result = await asyncio.wait_for(run_processor(tts(el), frames, virtual=False), 10)
    reported = [e.error for e in result.errors]
    assert len(reported) == 2
    assert "malformed response from" in reported[0] and "quota_exceeded" in reported[1]
    assert "Fine." in [w.text for w in result.of_type(TTSTextFrame)]


async def test_benchmark_reports_plugin_overhead() -> None:
    report = await benchmark_ttfb(iterations=5)
    assert report["tts"]["iterations"] == 5 and report["tts"]["overhead_ms"] < 20
