"""The TTS fault matrix: every cloud TTS plugin against its local server, every fault, with and without
a fallback. With a fallback the backup speaks the sentence that failed; without one the apology goes
out as text (a TTS that failed cannot speak it); within the timeout plus 1 s, and the session ends.
A key rejected when a WebSocket TTS connects at the session's start ends the session at once with the
reason instead (a configuration mistake; the peer is told why).

Faults a protocol cannot carry are not run: OpenAI's and Deepgram's speech endpoints stream raw PCM,
so there is no SSE or JSON to break (``malformed``, ``wrong_shape``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from voiceframe_cartesia import CartesiaTTSService
from voiceframe_cartesia.testing import FakeCartesiaServer
from voiceframe_deepgram import DeepgramTTSService
from voiceframe_deepgram.testing import FakeDeepgramServer
from voiceframe_elevenlabs import ElevenLabsTTSService
from voiceframe_elevenlabs.testing import FakeElevenLabsServer
from voiceframe_openai import OpenAITTSService
from voiceframe_openai import testing as openai_fake

from tests.services.fakes import FakeToneTTS
from tests.services.fault_matrix import (
    APOLOGY,
    FAULTS,
    GRACE,
    TIMEOUT,
    Stopwatch,
    check,
    openai_request_fault,
    outcome,
)
from voiceframe.frames import LLMFullResponseStartFrame, TTSSpeakFrame
from voiceframe.pipeline import Pipeline
from voiceframe.services.backoff import Backoff
from voiceframe.services.fallback import FallbackService
from voiceframe.services.tts import TTSService
from voiceframe.task import PipelineParams, TaskState
from voiceframe.testing import Wait, run_processor

KEY = "test-key"
SENTENCE = "Hello there friend."
REPEAT = 8  # a fault repeated this often outlasts the plugin's own retries
RAW_PCM = ("openai", "deepgram")
SOCKET = ("cartesia", "elevenlabs")  # connect at the session's start


def openai_faults(server: openai_fake.FakeOpenAIServer, fault: str) -> None:
    s = openai_fake
    script: Any
    common = openai_request_fault(fault)
    if common is not None:
        script = common
    elif fault == "hang_mid_stream":
        script = s.SpeechScript(chunk_seconds=0.05, hang_after=1)
    elif fault == "close_mid_stream":
        script = s.SpeechScript(chunk_seconds=0.05, drop_after=1)
    else:
        assert fault == "401"
        server.api_key = "sk-a-different-key"
        return
    server.speech.extend([script] * REPEAT)


def deepgram_faults(server: FakeDeepgramServer, fault: str) -> None:
    if fault in ("500", "429"):
        server.reject.extend([(int(fault), "0.05" if fault == "429" else None)] * REPEAT)
    elif fault == "hang_before_headers":
        server.speak_faults.extend(["hang_before_headers"] * REPEAT)
    elif fault == "hang_mid_stream":
        server.speak_faults.extend(["hang"] * REPEAT)
    elif fault == "close_mid_stream":
        server.speak_faults.extend(["drop"] * REPEAT)
    else:
        assert fault == "401"
        server.api_key = "a-different-key"


def socket_faults(server: FakeCartesiaServer | FakeElevenLabsServer, fault: str) -> None:
    """Cartesia and ElevenLabs stream over a WebSocket: refusals and hangs happen at the upgrade."""
    if fault in ("500", "429"):
        server.reject.extend([(int(fault), "0.05" if fault == "429" else None)] * REPEAT)
    elif fault == "hang_before_headers":
        server.hang_upgrades = REPEAT
    elif fault == "401":
        server.api_key = "a-different-key"
    else:
        name = {"hang_mid_stream": "hang", "close_mid_stream": "drop"}.get(fault, fault)
        server.faults.extend([name] * REPEAT)


def deadlines(service: TTSService) -> TTSService:
    service.backoff = Backoff(initial=0.02, maximum=0.1)
    return service


Plugin = tuple[Callable[[], Any], Callable[[Any, str], None], Callable[[Any], TTSService]]

PLUGINS: dict[str, Plugin] = {
    "openai": (
        lambda: openai_fake.FakeOpenAIServer(api_key=KEY),
        openai_faults,
        lambda server: deadlines(
            OpenAITTSService(
                base_url=server.base_url, warmup=False, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT
            )
        ),
    ),
    "deepgram": (
        lambda: FakeDeepgramServer(api_key=KEY),
        deepgram_faults,
        lambda server: deadlines(
            DeepgramTTSService(base_url=server.http_url, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT)
        ),
    ),
    "cartesia": (
        lambda: FakeCartesiaServer(api_key=KEY),
        socket_faults,
        lambda server: deadlines(
            CartesiaTTSService(base_url=server.url, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT)
        ),
    ),
    "elevenlabs": (
        lambda: FakeElevenLabsServer(api_key=KEY),
        socket_faults,
        lambda server: deadlines(
            ElevenLabsTTSService(base_url=server.url, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT)
        ),
    ),
}


@pytest.fixture
async def keys(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    for env in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "ELEVENLABS_API_KEY"):
        monkeypatch.setenv(env, KEY)
    yield


async def one_case(plugin: str, fault: str, with_fallback: bool) -> None:
    make_server, inject, make_tts = PLUGINS[plugin]
    async with make_server() as server:
        inject(server, fault)
        tts = make_tts(server)
        service: Any
        if with_fallback:
            backup = FakeToneTTS(latency=0.001, name="backup")
            service = FallbackService([tts, backup], first_byte_timeout=None, apology=APOLOGY)
            expected = SENTENCE
        else:
            tts.apology = APOLOGY
            service = tts
            expected = APOLOGY
        watch = Stopwatch()
        # the first frame out marks when the request reached the TTS (after its connection attempt)
        frames = [LLMFullResponseStartFrame(), TTSSpeakFrame(text=SENTENCE), Wait(TIMEOUT + GRACE)]
        result = await asyncio.wait_for(
            run_processor(
                Pipeline([service]),
                frames,
                virtual=False,
                timeout=10.0,
                params=PipelineParams(audio_out_sample_rate=24000),
            ),
            12.0,
        )
        out = outcome(result, expected, watch())
    if fault == "401" and plugin in SOCKET and not with_fallback:
        # the key is rejected at the upgrade, when the session starts: a configuration mistake ends
        # the session at once, and the reason (naming the variable) is what the peer is told
        [error] = out.errors
        assert error.fatal and "check the environment variable" in error.error, error
        assert out.state is TaskState.CANCELLED and out.wall < TIMEOUT + GRACE
        return
    check(out, expected, limit=TIMEOUT + GRACE)
    if fault == "401":
        assert any("check the environment variable" in e.error for e in out.errors), out.errors
    if fault in ("malformed", "wrong_shape"):
        assert any("malformed" in e.error for e in out.errors), out.errors
    assert out.state is TaskState.ENDED


@pytest.mark.parametrize("with_fallback", [True, False], ids=["fallback", "apology"])
@pytest.mark.parametrize("plugin", sorted(PLUGINS))
async def test_the_caller_hears_the_backup_or_the_apology(
    keys: None, plugin: str, with_fallback: bool
) -> None:
    """Every fault of the matrix for one plugin, run side by side (each with its own server)."""
    faults = [f for f in FAULTS if not (plugin in RAW_PCM and f in ("malformed", "wrong_shape"))]
    results = await asyncio.gather(
        *(one_case(plugin, fault, with_fallback) for fault in faults), return_exceptions=True
    )
    failures = {fault: r for fault, r in zip(faults, results, strict=True) if r is not None}
    assert not failures, failures
