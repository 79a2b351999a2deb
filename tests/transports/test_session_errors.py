"""A session that fails tells its client why, in words, then ends cleanly; the server serves the next.

Each failure kind goes through a real server on real sockets: the raw WebSocket protocol (an ``error``
JSON event, then close 1011), Twilio Media Streams (no error message exists there: close 1011 with the
reason) and WebRTC (two aiortc peers in one process: the ``error`` event on the data channel). The
failures are real ones where they can be: a config the bot builder rejects, an unknown provider, the
OpenAI plugin started without OPENAI_API_KEY; a fake service stands in for a provider dying mid-call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.transports.waiting import wait_until
from voiceframe.config import parse_config
from voiceframe.frames import ErrorFrame, Frame, InputAudioRawFrame, now
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor
from voiceframe.services.settings import MissingSecretError, SettingsError
from voiceframe.transports.serializers.errors import (
    CONFIG,
    MISSING_KEY,
    SERVICE_FAILED,
    SESSION_FAILED,
    UNKNOWN_PROVIDER,
    build_failure,
    service_failure,
)
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport

websockets = pytest.importorskip("websockets")

MISSING_OPENAI = "The LLM provider needs OPENAI_API_KEY: set it in the server's environment"
#: a config that parses but that the bot builder rejects (the issue's own example)
BAD_STRATEGY = """
[stt]
provider = "pocketsphinx"
[llm]
provider = "scripted"
[tts]
provider = "espeak"
[turn]
strategy = "smartturn"
"""
UNKNOWN_LLM = BAD_STRATEGY.replace('strategy = "smartturn"', 'strategy = "vad"').replace(
    'provider = "scripted"', 'provider = "nosuchllm"'
)


class FakeDyingService(FrameProcessor):
    """An LLM-like service whose provider fails for good once the caller's audio starts."""

    kind = "llm"

    def __init__(self, after_frames: int = 5) -> None:
        super().__init__(name="FakeDyingService#1")
        self.after_frames = after_frames
        self.seen = 0

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame):
            self.seen += 1
            if self.seen == self.after_frames:
                await self.push_error(
                    f"{self.name}: the provider closed the connection (HTTP 500 overloaded)", fatal=True
                )
        await self.push(frame, direction)


# --------------------------------------------------------------------------- words for each error


def test_build_errors_become_words_and_a_code() -> None:
    from voiceframe.bot import build_bot
    from voiceframe.transports.input import Transport

    class FakeTransport(Transport):
        def __init__(self) -> None:
            super().__init__(FrameProcessor(), FrameProcessor())

    cases = [(BAD_STRATEGY, CONFIG, "[turn].strategy"), (UNKNOWN_LLM, UNKNOWN_PROVIDER, "'nosuchllm'")]
    for text, code, named in cases:
        with pytest.raises(Exception) as caught:
            build_bot(parse_config(text), FakeTransport())
        failure = build_failure(caught.value)
        assert failure.code == code and named in failure.message, failure
        assert failure.message.startswith("The bot's configuration")
        assert failure.event()["fatal"] is True and failure.event()["type"] == "error"
    from voiceframe_openai.llm import OpenAILLMService

    try:  # a factory that checks the key while building
        OpenAILLMService.Settings.from_config({}).require_secret("api_key")
    except MissingSecretError as exc:
        assert build_failure(exc).message == MISSING_OPENAI
    assert build_failure(SettingsError("[tts].rate_wpm: too fast")).code == CONFIG
    bug = build_failure(RuntimeError("the factory\n  has a bug"))
    assert (bug.code, bug.message) == (SESSION_FAILED, "The bot could not be started: the factory has a bug")


def test_service_errors_name_the_part_of_the_bot() -> None:
    dying = FakeDyingService()
    pipeline = Pipeline([FrameProcessor(), dying])
    error = ErrorFrame(error=f"{dying.name}: HTTP 500 overloaded", fatal=True, processor=dying.name)
    failure = service_failure(error, pipeline)
    assert (failure.code, failure.message) == (
        SERVICE_FAILED,
        "The bot failed: the LLM provider: HTTP 500 overloaded",
    )
    key = ErrorFrame(
        error="DeepgramSTTService#4: DeepgramSTTSettings: missing api_key; set the environment variable "
        "DEEPGRAM_API_KEY",
        fatal=True,
        processor="DeepgramSTTService#4",
    )
    missing = service_failure(key)
    assert (missing.code, missing.message) == (
        MISSING_KEY,
        "The speech recognition (STT) provider needs DEEPGRAM_API_KEY: set it in the server's environment",
    )
    long = service_failure(ErrorFrame(error="x" * 5000, fatal=True))
    assert len(long.message) <= 400


# ------------------------------------------------------------------------------ the raw protocol


class RawCaller:
    """A raw-protocol client that records the JSON events and how the server closed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.closed: tuple[int | None, str] | None = None

    async def call(self, seconds: float = 0.5, timeout: float = 10.0) -> None:
        """Start, stream silence for ``seconds`` unless the server ends it first, then say stop."""
        async with websockets.connect(self.url) as ws:
            reader = asyncio.ensure_future(self._read(ws))
            t0 = now()
            try:
                await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                while now() - t0 < seconds and not reader.done():
                    await ws.send(bytes(640))
                    await asyncio.sleep(0.02)
                if not reader.done():
                    await ws.send(json.dumps({"type": "stop"}))
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(reader, timeout)

    async def _read(self, ws: Any) -> None:
        try:
            async for message in ws:
                if isinstance(message, str):
                    self.events.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        self.closed = (ws.close_code, ws.close_reason)

    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "error"]


def quiet_bot(transport: WebSocketTransport) -> Pipeline:
    return Pipeline([transport.input(), transport.output()])


def config_bot(text: str) -> Callable[[WebSocketTransport], Any]:
    def factory(transport: WebSocketTransport) -> Any:
        from voiceframe.bot import build_bot

        return build_bot(parse_config(text), transport)

    return factory


def missing_key_bot(transport: WebSocketTransport) -> Pipeline:
    from voiceframe_openai.llm import OpenAILLMService

    return Pipeline([transport.input(), OpenAILLMService(), transport.output()])


def raising_bot(transport: WebSocketTransport) -> Pipeline:
    raise RuntimeError("the session factory has a bug")


def dying_bot(transport: WebSocketTransport) -> Pipeline:
    return Pipeline([transport.input(), FakeDyingService(), transport.output()])


@pytest.fixture
async def ws_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[VoiceServer, dict[str, Any]]]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chosen: dict[str, Any] = {"factory": quiet_bot}

    def factory(transport: WebSocketTransport) -> Any:
        return chosen["factory"](transport)

    server = VoiceServer(factory, port=0, limits=ServerLimits(max_sessions=1, idle_timeout=None))
    await server.start()
    baseline = set(asyncio.all_tasks())
    yield server, chosen
    assert not server.sessions
    left = asyncio.all_tasks() - baseline - {asyncio.current_task()}
    assert not left, f"tasks left behind: {left}"
    await server.stop()


FAILURES = [
    pytest.param(config_bot(BAD_STRATEGY), CONFIG, "The bot's configuration is invalid: ", id="config"),
    pytest.param(
        config_bot(UNKNOWN_LLM), UNKNOWN_PROVIDER, "names an unknown provider", id="unknown-provider"
    ),
    pytest.param(missing_key_bot, MISSING_KEY, MISSING_OPENAI, id="missing-key"),
    pytest.param(raising_bot, SESSION_FAILED, "The bot could not be started: the session", id="factory-bug"),
    pytest.param(
        dying_bot, SERVICE_FAILED, "The bot failed: the LLM provider: the provider closed", id="mid-call"
    ),
]


async def settle(server: VoiceServer) -> None:
    await wait_until(lambda: not server.sessions, 5)


@pytest.mark.parametrize(("bot", "code", "words"), FAILURES)
async def test_raw_client_is_told_why_its_session_failed(
    ws_server: tuple[VoiceServer, dict[str, Any]],
    bot: Callable[[WebSocketTransport], Any],
    code: str,
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, chosen = ws_server
    chosen["factory"] = bot
    caller = RawCaller(f"{server.url}/ws")
    await caller.call(seconds=3.0)
    errors = caller.errors()
    assert len(errors) == 1, caller.events
    assert errors[0]["code"] == code and words in errors[0]["message"] and errors[0]["fatal"] is True
    assert "Traceback" not in errors[0]["message"]
    assert caller.closed is not None and caller.closed[0] == 1011
    assert caller.closed[1] and errors[0]["message"].startswith(caller.closed[1].removesuffix("..."))
    await settle(server)
    assert server.closed[-1][1] == 1011

    # the server is still serving: the next caller gets a healthy session (the one slot is free again)
    chosen["factory"] = quiet_bot
    healthy = RawCaller(f"{server.url}/ws")
    await healthy.call(seconds=0.2)
    assert healthy.errors() == [] and healthy.closed == (1000, "the client sent stop")
    await settle(server)


async def test_a_failure_is_one_line_in_the_server_log(ws_server: tuple[VoiceServer, dict[str, Any]]) -> None:
    from voiceframe.log import logger

    server, chosen = ws_server
    lines: list[str] = []
    sink = logger.add(lines.append, level="INFO", format="{level} {message}")
    try:
        for bot in (config_bot(BAD_STRATEGY), missing_key_bot):
            chosen["factory"] = bot
            await RawCaller(f"{server.url}/ws").call(seconds=1.0)
            await settle(server)
    finally:
        logger.remove(sink)
    mine = [line for line in lines if "(raw):" in line]
    assert len(mine) == 2, lines
    # besides the server's line, only the task's own warning of the ErrorFrame (core) may appear
    assert len(lines) <= 3, lines
    assert "the bot could not be built [config]" in mine[0] and "[turn].strategy" in mine[0]
    assert f"the bot failed [missing_key]: {MISSING_OPENAI}" in mine[1]
    assert not any("Traceback" in line for line in lines)
    assert all(line.count("\n") <= 1 for line in lines)


async def test_busy_server_says_so_in_an_event(ws_server: tuple[VoiceServer, dict[str, Any]]) -> None:
    server, _ = ws_server
    first, second = RawCaller(f"{server.url}/ws"), RawCaller(f"{server.url}/ws")
    running = asyncio.ensure_future(first.call(seconds=1.0))
    await wait_until(lambda: bool(server.sessions), 5)
    await second.call(seconds=0.1)
    assert second.closed is not None and second.closed[0] == 1013
    assert [e["code"] for e in second.errors()] == ["busy"]
    await running
    await settle(server)


# ----------------------------------------------------------------------------------------- Twilio


async def test_twilio_stream_is_closed_with_the_reason(
    ws_server: tuple[VoiceServer, dict[str, Any]],
) -> None:
    server, chosen = ws_server
    chosen["factory"] = missing_key_bot
    sid = "MZ00000000000000000000000000000009"
    received: list[str] = []
    async with websockets.connect(f"{server.url}/twilio") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "streamSid": sid,
            "callSid": "CA9",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        try:
            async for message in ws:
                received.append(str(message))
        except websockets.ConnectionClosed:
            pass
        closed = (ws.close_code, ws.close_reason)
    # Twilio Media Streams have no error message: nothing but media/mark/clear may be sent
    assert all(json.loads(m)["event"] in ("media", "mark", "clear") for m in received)
    assert closed == (1011, MISSING_OPENAI)
    await settle(server)


def test_close_reason_fits_a_close_frame() -> None:
    from voiceframe.transports.websocket.link import close_reason

    short = "The LLM provider needs OPENAI_API_KEY"
    assert close_reason(short) == short
    cut = close_reason("Le fournisseur a échoué : " + "é" * 200)
    assert len(cut.encode("utf-8")) <= 123 and cut.endswith("...") and cut.startswith("Le fournisseur")
