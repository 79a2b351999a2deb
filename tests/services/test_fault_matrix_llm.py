"""The LLM fault matrix: every cloud LLM plugin against its local server, every fault, with and without
a fallback. The caller hears the backup's answer or the apology within the timeout plus 1 s; the
words the primary streamed before a mid-stream fault are spoken too; the session ends by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from voiceframe_anthropic import AnthropicLLMService
from voiceframe_anthropic import testing as anthropic_fake
from voiceframe_openai import OpenAILLMService
from voiceframe_openai import testing as openai_fake

from tests.services.fakes import FakeScriptedLLM, FakeToneTTS, text_events
from tests.services.fault_matrix import (
    APOLOGY,
    BACKUP_ANSWER,
    FAULTS,
    GRACE,
    MID_STREAM,
    TIMEOUT,
    Stopwatch,
    check,
    openai_request_fault,
    outcome,
)
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import LLMContextFrame
from voiceframe.pipeline import Pipeline
from voiceframe.services.fallback import FallbackService
from voiceframe.services.llm import LLMService
from voiceframe.task import TaskState
from voiceframe.testing import Wait, run_processor

OPENAI_KEY = "sk-test-fault-matrix"
ANTHROPIC_KEY = "sk-ant-test-fault-matrix"
ANSWER = ("One", " two", " three", " four.")
#: a fault repeated this often outlasts the SDK's own retries
REPEAT = 4


def openai_faults(server: openai_fake.FakeOpenAIServer, fault: str) -> None:
    s = openai_fake
    script: Any
    common = openai_request_fault(fault)
    if common is not None:
        script = common
    elif fault == "hang_mid_stream":
        script = s.ChatScript(text=ANSWER, hang_after=3)
    elif fault == "close_mid_stream":
        script = s.ChatScript(text=ANSWER, drop_after=3)
    elif fault == "malformed":
        script = s.ChatScript(text=ANSWER, malformed_after=3)
    elif fault == "wrong_shape":
        script = s.ChatScript(text=ANSWER, wrong_shape_after=3)
    else:
        assert fault == "401"
        server.api_key = "sk-a-different-key"
        return
    server.chat.extend([script] * REPEAT)


def anthropic_faults(server: anthropic_fake.FakeAnthropicServer, fault: str) -> None:
    s = anthropic_fake
    script: Any
    if fault == "500":
        script = s.ErrorScript(500, "api_error", "Internal server error")
    elif fault == "429":
        script = s.ErrorScript(429, "rate_limit_error", "Number of requests exceeded", retry_after=0.05)
    elif fault == "hang_before_headers":
        script = s.HangScript()
    elif fault == "hang_mid_stream":
        script = s.MessageScript(text=ANSWER, hang_after=5)
    elif fault == "close_mid_stream":
        script = s.MessageScript(text=ANSWER, drop_after=5)
    elif fault == "malformed":
        script = s.MessageScript(text=ANSWER, malformed_after=5)
    elif fault == "wrong_shape":
        script = s.MessageScript(text=ANSWER, wrong_shape_after=5)
    else:
        assert fault == "401"
        server.api_key = "sk-ant-a-different-key"
        return
    server.messages.extend([script] * REPEAT)


Plugin = tuple[Callable[[], Any], Callable[[Any, str], None], Callable[[Any], LLMService]]

PLUGINS: dict[str, Plugin] = {
    "openai": (
        lambda: openai_fake.FakeOpenAIServer(api_key=OPENAI_KEY),
        openai_faults,
        lambda server: OpenAILLMService(
            base_url=server.base_url, warmup=False, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT
        ),
    ),
    "anthropic": (
        lambda: anthropic_fake.FakeAnthropicServer(api_key=ANTHROPIC_KEY),
        anthropic_faults,
        lambda server: AnthropicLLMService(
            base_url=server.base_url, first_byte_timeout=TIMEOUT, chunk_timeout=TIMEOUT
        ),
    ),
}


@pytest.fixture
async def keys(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    yield


def ask() -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "Count to four."}]))


async def one_case(plugin: str, fault: str, with_fallback: bool) -> None:
    """Run one cell of the matrix; raises AssertionError saying what the caller got instead."""
    make_server, inject, make_llm = PLUGINS[plugin]
    async with make_server() as server:
        inject(server, fault)
        llm = make_llm(server)
        service: Any
        if with_fallback:
            backup = FakeScriptedLLM(text_events(BACKUP_ANSWER), delay=0.01, name="backup")
            service = FallbackService([llm, backup], first_byte_timeout=None, apology=APOLOGY)
            expected = BACKUP_ANSWER
        else:
            llm.apology = APOLOGY
            service = llm
            expected = APOLOGY
        tts = FakeToneTTS(latency=0.001)
        watch = Stopwatch()
        result = await asyncio.wait_for(
            # the caller stays on the line a little (an EndFrame right away would stop the backup first)
            run_processor(
                Pipeline([service, tts]), [ask(), Wait(TIMEOUT + GRACE)], virtual=False, timeout=8.0
            ),
            10.0,
        )
        out = outcome(result, expected, watch())
    check(out, expected, limit=TIMEOUT + GRACE)
    spoken = " ".join(out.spoken)
    if fault in MID_STREAM:
        # the words streamed before the fault stay spoken, before the backup's answer or the apology
        assert spoken.startswith("One two"), spoken
    if fault in ("malformed", "wrong_shape"):
        assert any("malformed response from" in e.error for e in out.errors), out.errors
    if fault == "401":
        env = "OPENAI_API_KEY" if plugin == "openai" else "ANTHROPIC_API_KEY"
        assert any(f"check the environment variable {env}" in e.error for e in out.errors), out.errors
    assert out.state is TaskState.ENDED
    assert out.wall < 2 * (TIMEOUT + GRACE) + 1.0  # the run itself: no session hangs on the provider


@pytest.mark.parametrize("with_fallback", [True, False], ids=["fallback", "apology"])
@pytest.mark.parametrize("plugin", sorted(PLUGINS))
async def test_the_caller_hears_the_backup_or_the_apology(
    keys: None, plugin: str, with_fallback: bool
) -> None:
    """Every fault of the matrix for one plugin, run side by side (each with its own server)."""
    results = await asyncio.gather(
        *(one_case(plugin, fault, with_fallback) for fault in FAULTS), return_exceptions=True
    )
    failures = {fault: r for fault, r in zip(FAULTS, results, strict=True) if r is not None}
    assert not failures, failures
