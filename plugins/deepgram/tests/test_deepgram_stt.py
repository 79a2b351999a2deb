"""DeepgramSTTService against the local Deepgram protocol server (real sockets, real clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from voiceframe_deepgram import DeepgramSTTService
from voiceframe_deepgram.testing import FakeDeepgramServer

from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.services.backoff import Backoff
from voiceframe.testing import Wait, run_processor

CHUNK = b"\x10\x00" * 320  # 20 ms at 16 kHz


def audio(seconds: float, pace: float = 0.0) -> list[Frame | Wait]:
    """``seconds`` of input audio in 20 ms frames, with a real-time ``pace`` between frames."""
    out: list[Frame | Wait] = []
    for _ in range(round(seconds / 0.02)):
        out.append(InputAudioRawFrame(audio=CHUNK, sample_rate=16000))
        if pace:
            out.append(Wait(pace))
    return out


@pytest.fixture
async def dg(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDeepgramServer]:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    async with FakeDeepgramServer(utterances=["Hello world.", "How are you?"]) as server:
        yield server


def stt(server: FakeDeepgramServer, **settings: object) -> DeepgramSTTService:
    s = DeepgramSTTService(base_url=server.ws_url, **settings)
    s.backoff = Backoff(initial=0.02, maximum=0.1)
    return s


async def test_streams_interim_and_final_transcripts_with_word_times(dg: FakeDeepgramServer) -> None:
    service = stt(dg, push_vad_frames=True)
    result = await run_processor(service, [Wait(0.1), *audio(3.0, pace=0.001)], virtual=False)

    session = dg.sessions[0]
    q = session.query
    assert (q["model"], q["encoding"], q["sample_rate"], q["channels"]) == (
        "nova-3",
        "linear16",
        "16000",
        "1",
    )
    assert (q["interim_results"], q["vad_events"], q["utterance_end_ms"], q["endpointing"]) == (
        "true",
        "true",
        "1000",
        "300",
    )
    assert session.audio_bytes == 3.0 * 16000 * 2
    finals = result.of_type(TranscriptionFrame)
    assert [f.text for f in finals] == ["Hello world.", "How are you?"]
    assert [w.word for w in finals[0].words or []] == ["Hello", "world."]
    # word times are seconds of the audio the server heard: 0.2 s of silence, then 0.25 s per word
    assert [(w.start, w.end) for w in finals[0].words or []] == [(0.2, 0.45), (0.45, 0.7)]
    # the next utterance starts 0.2 s after UtteranceEnd (0.7 s + utterance_end_ms)
    assert [(w.start, w.end) for w in finals[1].words or []] == [(1.9, 2.15), (2.15, 2.4), (2.4, 2.65)]
    assert finals[0].words[0].confidence == 0.98  # type: ignore[index]
    interims = result.of_type(InterimTranscriptionFrame)
    assert interims and interims[0].text == "Hello"
    # SpeechStarted / UtteranceEnd are kept and (opted in) pushed as VAD frames
    assert service.speech_started_at is not None
    assert service.utterance_end_at == 0.7
    assert result.of_type(VADUserStartedSpeakingFrame) and result.of_type(VADUserStoppedSpeakingFrame)
    # the graceful end sends CloseStream and waits for Metadata before closing
    assert session.control[-1] == {"type": "CloseStream"}
    assert service.metadata is not None and service.metadata["type"] == "Metadata"
    assert session.close_code == 1000
    assert [e.error for e in result.errors] == []


async def test_close_stream_finalises_what_was_heard(dg: FakeDeepgramServer) -> None:
    result = await run_processor(stt(dg), audio(0.5), virtual=False)  # "Hello" heard, "world." not yet
    assert [f.text for f in result.of_type(TranscriptionFrame)] == ["Hello"]


async def test_keepalive_keeps_an_idle_stream_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    async with FakeDeepgramServer(idle_timeout=0.3) as server:
        service = stt(server, keepalive_interval=0.1)
        result = await run_processor(service, [*audio(0.1), Wait(1.0), *audio(0.1)], virtual=False)
    session = server.sessions[0]
    assert session.keepalives >= 5
    assert {"type": "KeepAlive"} in session.control
    assert len(server.sessions) == 1 and session.close_code == 1000  # never timed out (NET-0001)
    assert [e.error for e in result.errors] == []


async def test_idle_timeout_without_keepalive_is_reported_and_reconnected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "test-key")
    async with FakeDeepgramServer(idle_timeout=0.2) as server:
        service = stt(server, keepalive_interval=5.0)
        result = await run_processor(service, [*audio(0.1), Wait(0.5)], virtual=False)
    assert (server.sessions[0].close_code, server.sessions[0].close_reason) == (1011, "NET-0001")
    assert any("1011 NET-0001" in e and "reconnecting" in e for e in [e.error for e in result.errors])
    assert len(server.sessions) >= 2


async def test_reconnects_after_the_server_drops_the_connection(dg: FakeDeepgramServer) -> None:
    dg.drop_after_seconds = 0.3
    result = await run_processor(stt(dg), [*audio(0.4), Wait(0.3), *audio(1.0, pace=0.001)], virtual=False)
    assert len(dg.sessions) == 2
    assert dg.sessions[0].close_code == 1006
    assert any("closed the stream" in e and "reconnecting" in e for e in [e.error for e in result.errors])
    # the new connection hears audio from its own start: the first utterance again
    assert [f.text for f in result.of_type(TranscriptionFrame)] == ["Hello world."]


async def test_bad_key_is_a_fatal_error_naming_the_variable(
    dg: FakeDeepgramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "wrong")
    result = await run_processor(stt(dg), audio(0.1), virtual=False)
    [error] = result.errors
    assert error.fatal
    assert "401" in error.error and "INVALID_AUTH" in error.error and "DEEPGRAM_API_KEY" in error.error
    assert dg.rejected == [401] and dg.sessions == []  # not retried: a wrong key stays wrong


async def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    result = await run_processor(DeepgramSTTService(base_url="ws://127.0.0.1:9"), [], virtual=False)
    [error] = result.errors
    assert error.fatal and "set the environment variable DEEPGRAM_API_KEY" in error.error


async def test_rate_limited_upgrade_is_retried(dg: FakeDeepgramServer) -> None:
    dg.reject = [(429, "0.05"), (429, None)]
    result = await run_processor(stt(dg), audio(1.0), virtual=False)
    assert dg.rejected == [429, 429] and len(dg.sessions) == 1
    assert [f.text for f in result.of_type(TranscriptionFrame)] == ["Hello world."]
    assert [e.error for e in result.errors] == []


async def test_malformed_messages_are_reported_and_the_stream_goes_on(dg: FakeDeepgramServer) -> None:
    dg.inject = ["{not json", json.dumps({"type": "Results", "channel": {}}), json.dumps([1, 2])]
    result = await run_processor(stt(dg), audio(1.0), virtual=False)
    reported = [e.error for e in result.errors]
    assert len(reported) == 3 and all("malformed response from Deepgram" in e for e in reported)
    assert [f.text for f in result.of_type(TranscriptionFrame)] == ["Hello world."]
