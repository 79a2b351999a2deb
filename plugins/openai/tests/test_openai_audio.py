"""OpenAI TTS (streamed PCM) and STT (WAV upload) against the local protocol server, real time."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import AsyncIterator

import pytest
from voiceframe_openai import OpenAISTTService, OpenAITTSService
from voiceframe_openai.testing import ErrorScript, FakeOpenAIServer, SpeechScript, TranscriptionScript

from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.task import PipelineParams
from voiceframe.testing import Wait, run_processor

KEY = "sk-audio-test"
OUT24K = PipelineParams(audio_out_sample_rate=24000)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    async with FakeOpenAIServer(api_key=KEY) as s:
        yield s


async def test_tts_streams_pcm_chunks_with_the_right_duration(server: FakeOpenAIServer) -> None:
    server.speech.append(SpeechScript(seconds=0.5, chunk_seconds=0.05, delay=0.005))
    tts = OpenAITTSService(base_url=server.base_url, voice="nova", speed=1.1)
    result = await run_processor(
        tts, [TTSSpeakFrame(text="Hello there, friend")], virtual=False, params=OUT24K
    )
    audio = result.of_type(TTSAudioRawFrame)
    assert len(audio) >= 5  # streamed in pieces, not one blob at the end
    assert all(a.sample_rate == 24000 and len(a.audio) % 2 == 0 for a in audio)
    assert sum(a.duration for a in audio) == pytest.approx(0.5, abs=1e-3)
    # the bytes are the server's tone, sample for sample
    pcm = b"".join(a.audio for a in audio)
    first = struct.unpack_from("<100h", pcm)
    assert first == tuple(int(3000 * math.sin(2 * math.pi * 220 * i / 24000)) for i in range(100))
    # no word timestamps from this API: the base spreads the words over the audio
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there,", "friend"]
    assert words[0].pts == 0.0 and 0.0 < words[1].pts < words[2].pts < 0.5
    [seen] = server.seen("/audio/speech")
    assert seen.body == {
        "model": "gpt-4o-mini-tts",
        "voice": "nova",
        "input": "Hello there, friend",
        "response_format": "pcm",
        "speed": 1.1,
    }


async def test_tts_resamples_to_the_output_rate(server: FakeOpenAIServer) -> None:
    server.speech.append(SpeechScript(seconds=0.3))
    tts = OpenAITTSService(base_url=server.base_url)
    result = await run_processor(
        tts, [TTSSpeakFrame(text="Hi")], virtual=False, params=PipelineParams(audio_out_sample_rate=16000)
    )
    audio = result.of_type(TTSAudioRawFrame)
    assert all(a.sample_rate == 16000 for a in audio)
    assert sum(a.duration for a in audio) == pytest.approx(0.3, abs=0.003)


async def test_tts_interruption_closes_the_audio_stream(server: FakeOpenAIServer) -> None:
    server.speech.append(SpeechScript(seconds=3.0, chunk_seconds=0.05, delay=0.02))
    tts = OpenAITTSService(base_url=server.base_url)
    started = time.perf_counter()
    result = await run_processor(
        tts,
        [TTSSpeakFrame(text="A long sentence."), Wait(0.3), InterruptionFrame()],
        virtual=False,
        end=False,
        settle=0.2,
        params=OUT24K,
    )
    seen = await server.wait_disconnect(timeout=1.0)
    assert seen.disconnected_at is not None and seen.disconnected_at - started < 0.8
    assert 0.0 < sum(a.duration for a in result.of_type(TTSAudioRawFrame)) < 3.0


async def test_tts_dropped_connection_then_recovery(server: FakeOpenAIServer) -> None:
    server.speech.append(SpeechScript(seconds=1.0, drop_after=3))
    server.speech.append(SpeechScript(seconds=0.2))
    tts = OpenAITTSService(base_url=server.base_url)
    result = await run_processor(
        tts, [TTSSpeakFrame(text="One."), TTSSpeakFrame(text="Two.")], virtual=False, params=OUT24K
    )
    [error] = result.errors
    assert "connection to" in error.error
    durations = sum(a.duration for a in result.of_type(TTSAudioRawFrame))
    assert durations == pytest.approx(0.15 + 0.2, abs=1e-3)  # 3 chunks of the first, all of the second


async def test_tts_rate_limit_then_success(server: FakeOpenAIServer) -> None:
    server.speech.append(ErrorScript(429, "Rate limit reached", "requests", "rate_limit_exceeded", 0.2))
    tts = OpenAITTSService(base_url=server.base_url)
    result = await run_processor(tts, [TTSSpeakFrame(text="Hi")], virtual=False, params=OUT24K)
    assert not result.errors
    assert [r.status for r in server.seen("/audio/speech")] == [429, 200]


def _speech_frames(seconds: float, rate: int = 16000) -> list[Frame | Wait]:
    n = int(rate * 0.02)
    chunk = struct.pack(f"<{n}h", *(int(2000 * math.sin(2 * math.pi * 300 * i / rate)) for i in range(n)))
    frames: list[Frame | Wait] = [VADUserStartedSpeakingFrame()]
    frames += [InputAudioRawFrame(audio=chunk, sample_rate=rate) for _ in range(int(seconds / 0.02))]
    frames.append(VADUserStoppedSpeakingFrame())
    return frames


async def test_stt_uploads_a_wav_and_emits_the_transcript(server: FakeOpenAIServer) -> None:
    server.transcriptions.append(TranscriptionScript(text="turn on the lights"))
    stt = OpenAISTTService(base_url=server.base_url, prompt="Lights, kitchen")
    result = await run_processor(stt, _speech_frames(1.0), virtual=False)
    [t] = result.of_type(TranscriptionFrame)
    assert t.text == "turn on the lights" and t.words is None
    [seen] = server.seen("/audio/transcriptions")
    assert seen.wav == (16000, 1, 2, 16000)  # 1 s of 16 kHz mono int16, as a real WAV file
    assert seen.pcm[:640] == _speech_frames(0.02)[1].audio  # type: ignore[union-attr]
    assert seen.body["model"] == "gpt-4o-transcribe"
    assert seen.body["language"] == "en" and seen.body["response_format"] == "json"
    assert seen.body["prompt"] == "Lights, kitchen"


async def test_stt_word_timestamps_with_whisper(server: FakeOpenAIServer) -> None:
    server.transcriptions.append(TranscriptionScript(text="book a table"))
    stt = OpenAISTTService(base_url=server.base_url, model="whisper-1", word_timestamps=True)
    result = await run_processor(stt, _speech_frames(0.6), virtual=False)
    [t] = result.of_type(TranscriptionFrame)
    assert t.words is not None and [w.word for w in t.words] == ["book", "a", "table"]
    assert t.words[0].start == 0.0 and t.words[-1].end == pytest.approx(0.6, abs=0.01)
    seen = server.seen("/audio/transcriptions")[0]
    assert seen.body["response_format"] == "verbose_json" and seen.body["timestamp_granularities"] == "word"


async def test_stt_errors_are_reported_and_the_next_utterance_works(server: FakeOpenAIServer) -> None:
    # gpt-4o-transcribe cannot give word times: the server refuses as the API does
    stt = OpenAISTTService(base_url=server.base_url, word_timestamps=True)
    result = await run_processor(stt, _speech_frames(0.2), virtual=False)
    [error] = result.errors
    assert "HTTP 400" in error.error and "not compatible with model 'gpt-4o-transcribe'" in error.error

    server.transcriptions.append(ErrorScript(500, "The server had an error", "server_error"))
    stt = OpenAISTTService(base_url=server.base_url, max_retries=0)
    result = await run_processor(stt, [*_speech_frames(0.2), Wait(0.3), *_speech_frames(0.2)], virtual=False)
    [error] = result.errors
    assert "HTTP 500" in error.error
    assert [t.text for t in result.of_type(TranscriptionFrame)] == ["hello from the local server"]
