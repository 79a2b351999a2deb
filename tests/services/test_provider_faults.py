"""Provider faults the caller hears about, on the virtual clock: a turn that fails mid-answer is
replayed to the backup, a hung provider costs seconds, the apology replaces silence, a rejected key
ends the session after the apology, 401/403 are fatal, echoed credentials never reach the log."""

from __future__ import annotations

import httpx2 as httpx
import openai
import pytest
from loguru import logger

from tests.services.fakes import FakeBreakingLLM, FakeScriptedLLM, FakeToneTTS, text_events
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
    TTSSpeakFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.services.base import ServiceError
from voiceframe.services.fallback import FallbackService
from voiceframe.services.http_errors import redact, sdk_error
from voiceframe.services.timeouts import DEFAULT_FIRST_BYTE_TIMEOUT
from voiceframe.task import TaskState
from voiceframe.testing import Wait, run_processor

APOLOGY = "Sorry, I'm having trouble right now."


def ask() -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "Count."}]))


def shape(frames: list[Frame]) -> list[str]:
    """The response structure: S/E for response start/end, the text of each token."""
    out = []
    for f in frames:
        if isinstance(f, LLMFullResponseStartFrame):
            out.append("S")
        elif isinstance(f, LLMFullResponseEndFrame):
            out.append("E")
        elif isinstance(f, LLMTextFrame):
            out.append(f.text)
    return out


async def test_a_primary_failing_after_its_first_tokens_is_replayed_to_the_backup() -> None:
    primary = FakeBreakingLLM(text_events("One", " two"), ServiceError("connection dropped"), name="primary")
    backup = FakeScriptedLLM(text_events("Backup", " answer."), name="backup")
    fallback = FallbackService([primary, backup], first_byte_timeout=None, apology=APOLOGY)
    result = await run_processor(Pipeline([fallback]), [ask(), Wait(2.0)])
    # the partial answer is closed (so TTS speaks it and the context keeps it), then the backup
    # restarts the reply; nothing is lost, nothing is said twice by the primary
    assert shape(result.downstream) == ["S", "One", " two", "E", "S", "Backup", " answer.", "E"]
    # the backup saw the turn as it was asked
    assert [m["content"] for m in backup.contexts[0].messages] == ["Count."]
    [error] = result.errors
    assert not error.fatal and "switched to backup" in error.error and "connection dropped" in error.error


async def test_the_partial_answer_and_the_backup_answer_are_both_spoken() -> None:
    primary = FakeBreakingLLM(text_events("One", " two"), ServiceError("stream broke"), name="primary")
    backup = FakeScriptedLLM(text_events("Backup answer."), name="backup")
    fallback = FallbackService([primary, backup], first_byte_timeout=None)
    tts = FakeToneTTS(latency=0.01)
    result = await run_processor(Pipeline([fallback, tts]), [ask(), Wait(2.0)])
    assert tts.requests == ["One two", "Backup answer."]
    assert result.state is TaskState.ENDED


async def test_a_hung_llm_without_fallback_apologises_after_the_first_byte_deadline() -> None:
    hung = FakeScriptedLLM(text_events("late"), delay=600.0, name="hung")
    hung.apology = APOLOGY
    result = await run_processor(Pipeline([hung]), [ask(), Wait(10.0)])
    texts = result.of_type(LLMTextFrame)
    assert [t.text for t in texts] == [APOLOGY]
    at = result.times[result.downstream.index(texts[0])]
    assert at == pytest.approx(DEFAULT_FIRST_BYTE_TIMEOUT, abs=0.01)  # not 30 s x 3 retries
    [error] = result.errors
    assert "no first byte from hung within 5 s" in error.error and not error.fatal
    assert result.state is TaskState.ENDED


async def test_a_rejected_key_apologises_then_ends_the_session_gracefully() -> None:
    rejected = FakeBreakingLLM([], ServiceError("HTTP 401; check OPENAI_API_KEY", fatal=True), name="llm")
    rejected.apology = APOLOGY
    # end=False: only the service's own EndTaskFrame can end this session before 60 s
    result = await run_processor(Pipeline([rejected]), [ask()], end=False, settle=60.0)
    assert [t.text for t in result.of_type(LLMTextFrame)] == [APOLOGY]
    assert result.state is TaskState.ENDED  # ended after the apology, not cancelled before it
    [error] = result.errors
    assert "ending the session" in error.error


async def test_without_an_apology_a_rejected_key_is_still_fatal() -> None:
    rejected = FakeBreakingLLM([], ServiceError("HTTP 401", fatal=True), name="llm")
    result = await run_processor(Pipeline([rejected]), [ask()], end=False, settle=60.0)
    assert result.state is TaskState.CANCELLED and result.errors[0].fatal


async def test_all_providers_down_with_an_apology_keeps_the_session() -> None:
    a = FakeScriptedLLM(name="a", fail_with="down")
    b = FakeScriptedLLM(name="b", fail_with="down too")
    fallback = FallbackService([a, b], first_byte_timeout=None, apology=APOLOGY)
    result = await run_processor(Pipeline([fallback]), [ask(), Wait(2.0)])
    assert shape(result.downstream)[-3:] == ["S", APOLOGY, "E"]
    assert all(not e.fatal for e in result.errors) and "no provider left" in result.errors[-1].error
    assert result.state is TaskState.ENDED


async def test_a_failing_tts_without_fallback_sends_the_apology_as_text_once_per_utterance() -> None:
    class FakeBrokenTTS(FakeToneTTS):
        async def synthesize(self, text: str):  # type: ignore[no-untyped-def,override]
            raise ServiceError("TTS provider down")
            yield  # pragma: no cover

    tts = FakeBrokenTTS()
    tts.apology = APOLOGY
    result = await run_processor(tts, [TTSSpeakFrame(text="One. Two. Three.")])
    assert [f.text for f in result.downstream if type(f) is TextFrame] == [APOLOGY]


def _status_error(cls: type[openai.APIStatusError], status: int, body: str) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, request=request, text=body)
    return cls(body, response=response, body=None)


@pytest.mark.parametrize(
    ("cls", "status"), [(openai.AuthenticationError, 401), (openai.PermissionDeniedError, 403)]
)
def test_401_and_403_from_an_sdk_are_fatal_and_name_the_variable(
    cls: type[openai.APIStatusError], status: int
) -> None:
    exc = sdk_error(
        _status_error(cls, status, "denied"), "api.openai.com", sdk=openai, env="OPENAI_API_KEY", message=str
    )
    assert isinstance(exc, ServiceError) and exc.fatal
    assert f"HTTP {status}" in str(exc) and "check the environment variable OPENAI_API_KEY" in str(exc)


def test_wrong_shape_json_is_a_malformed_response_not_an_attribute_error() -> None:
    exc = sdk_error(
        AttributeError("'int' object has no attribute 'content'"),
        "api.openai.com",
        sdk=openai,
        env="OPENAI_API_KEY",
        message=str,
    )
    assert isinstance(exc, ServiceError)
    assert str(exc).startswith("malformed response from api.openai.com: ") and "AttributeError" not in str(
        exc
    )


SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    "echo",
    [
        f'{{"error": {{"message": "bad request", "headers": {{"Authorization": "Bearer {SECRET}"}}}}}}',
        f"Invalid header: Authorization: Bearer {SECRET}",
        f"x-api-key: {SECRET} is not valid",
    ],
)
async def test_an_error_body_echoing_the_key_is_redacted_everywhere_it_is_logged(echo: str) -> None:
    lines: list[str] = []
    handler = logger.add(lines.append, level="DEBUG", format="{message}")
    try:
        error = _status_error(openai.BadRequestError, 400, echo)
        exc = sdk_error(error, "api.openai.com", sdk=openai, env="OPENAI_API_KEY", message=str)
        llm = FakeBreakingLLM(
            [], exc if isinstance(exc, ServiceError) else ServiceError(str(exc)), name="llm"
        )
        result = await run_processor(Pipeline([llm]), [ask()])
    finally:
        logger.remove(handler)
    assert SECRET not in str(exc) and "[redacted]" in str(exc)
    assert all(SECRET not in e.error for e in result.errors)
    assert lines and all(SECRET not in line for line in lines)
    assert SECRET not in redact(echo)
