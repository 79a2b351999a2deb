"""The STT fault matrix for OpenAI's transcription endpoint (one upload per utterance) against its
local server: with a fallback the backup's transcript of the same utterance goes out (audio reaches
every STT of a fallback); without one TTS speaks the
apology; within the timeout plus 1 s of the end of the utterance, and the session ends by itself.

Its answer is one JSON body, not a stream: "mid-stream" faults break that body after the headers.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from voiceframe_openai import OpenAISTTService
from voiceframe_openai import testing as openai_fake

from tests.services.fakes import FakeToneTTS
from tests.services.fault_matrix import APOLOGY, FAULTS, GRACE, TIMEOUT, check, openai_request_fault, outcome
from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.services.fallback import FallbackService
from voiceframe.services.stt import SegmentedSTTService, Transcript
from voiceframe.task import TaskState
from voiceframe.testing import Wait, run_processor

KEY = "sk-test-fault-matrix"
HEARD = "the backup heard you"
REPEAT = 4


class FakeHeardSTT(SegmentedSTTService):
    """A backup that transcribes any utterance as HEARD, and notes how much audio it got."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.audio_bytes: list[int] = []

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        await asyncio.sleep(0.01)
        self.audio_bytes.append(len(audio))
        return Transcript(text=HEARD)


def inject(server: openai_fake.FakeOpenAIServer, fault: str) -> None:
    s = openai_fake
    script: Any
    common = openai_request_fault(fault)
    if common is not None:
        script = common
    elif fault == "401":
        server.api_key = "sk-a-different-key"
        return
    else:
        body = {"hang_mid_stream": "hang", "close_mid_stream": "drop"}.get(fault, fault)
        script = s.TranscriptionScript(fault=body)
    server.transcriptions.extend([script] * REPEAT)


def utterance(seconds: float = 0.4, rate: int = 16000) -> list[Frame | Wait]:
    n = int(rate * 0.02)
    chunk = struct.pack(f"<{n}h", *(int(2000 * math.sin(2 * math.pi * 300 * i / rate)) for i in range(n)))
    frames: list[Frame | Wait] = [VADUserStartedSpeakingFrame()]
    frames += [InputAudioRawFrame(audio=chunk, sample_rate=rate) for _ in range(int(seconds / 0.02))]
    frames.append(VADUserStoppedSpeakingFrame())
    return frames


@pytest.fixture
async def keys(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield


async def one_case(fault: str, with_fallback: bool) -> None:
    async with openai_fake.FakeOpenAIServer(api_key=KEY) as server:
        inject(server, fault)
        stt = OpenAISTTService(base_url=server.base_url, warmup=False, first_byte_timeout=TIMEOUT)
        service: Any
        backup = FakeHeardSTT(name="backup")
        if with_fallback:
            service = FallbackService([stt, backup], first_byte_timeout=None, apology=APOLOGY)
        else:
            stt.apology = APOLOGY
            service = stt
        tts = FakeToneTTS(latency=0.001)
        frames = [*utterance(), Wait(TIMEOUT + GRACE)]
        result = await asyncio.wait_for(
            run_processor(Pipeline([service, tts]), frames, virtual=False, timeout=8.0), 10.0
        )
    stopped = next(
        t
        for f, t in zip(result.downstream, result.times, strict=True)
        if isinstance(f, VADUserStoppedSpeakingFrame)
    )
    if with_fallback:
        heard = [
            t - stopped
            for f, t in zip(result.downstream, result.times, strict=True)
            if isinstance(f, TranscriptionFrame) and f.text == HEARD
        ]
        assert heard and heard[0] <= TIMEOUT + GRACE, (heard, result.errors)
        assert backup.audio_bytes == [2 * 16000 * 4 // 10]  # the whole failed utterance, once
        assert result.state is TaskState.ENDED, result.errors
    else:
        out = outcome(result, APOLOGY, 0.0)
        check(out, APOLOGY, limit=(stopped - result.times[0]) + TIMEOUT + GRACE)
    if fault == "401":
        assert any("check the environment variable OPENAI_API_KEY" in e.error for e in result.errors)
    if fault in ("malformed", "wrong_shape"):
        assert any("malformed response from" in e.error for e in result.errors), result.errors


@pytest.mark.parametrize("with_fallback", [True, False], ids=["fallback", "apology"])
async def test_openai_stt_faults_are_heard_about(keys: None, with_fallback: bool) -> None:
    results = await asyncio.gather(*(one_case(f, with_fallback) for f in FAULTS), return_exceptions=True)
    failures = {fault: r for fault, r in zip(FAULTS, results, strict=True) if r is not None}
    assert not failures, failures
