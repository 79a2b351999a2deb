"""WebRTC sessions that fail: the peer gets the ``error`` event on its data channel, then the session ends.

Two aiortc peers in one process over loopback. The bot comes from the real session factory
(:func:`bot_session_factory`) wherever the failure is a real one: a config the builder rejects, an
unknown provider, the OpenAI LLM started without OPENAI_API_KEY. After each failure the server serves
the next caller, and no asyncio task is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aiortc", reason="needs the webrtc extra")
pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak (installed by make install)")

from tests.transports.test_session_errors import (
    BAD_STRATEGY,
    MISSING_OPENAI,
    UNKNOWN_LLM,
    FakeDyingService,
)
from tests.transports.waiting import wait_until
from tests.transports.webrtc_client import Caller
from voiceframe.config import parse_config
from voiceframe.demo import DEMO_CONFIG, DEMO_TOOLS
from voiceframe.observe.observer import Observer
from voiceframe.pipeline import Pipeline
from voiceframe.task import PipelineParams, PipelineTask
from voiceframe.transports.serializers.errors import (
    CONFIG,
    MISSING_KEY,
    SERVICE_FAILED,
    SESSION_FAILED,
    UNKNOWN_PROVIDER,
)
from voiceframe.transports.webrtc import WebRTCServer, WebRTCTransport, bot_session_factory
from voiceframe.transports.webrtc.server import SessionFactory

#: the offline demo with an OpenAI LLM: everything builds, the LLM cannot start without its key
OPENAI_DEMO = DEMO_CONFIG.replace('provider = "scripted"', 'provider = "openai"')


def pipeline_factory(make: Any) -> SessionFactory:
    async def factory(
        transport: WebRTCTransport, observers: list[Observer], idle: float | None
    ) -> PipelineTask:
        pipeline = Pipeline([transport.input(), *make(), transport.output()])
        return PipelineTask(
            pipeline, params=PipelineParams(16000, 16000), observers=observers, idle_timeout=idle
        )

    return factory


async def raising_factory(
    transport: WebRTCTransport, observers: list[Observer], idle: float | None
) -> PipelineTask:
    raise RuntimeError("the session factory has a bug")


class Switch:
    """The server's session factory; a test points it at the factory of the next session."""

    def __init__(self) -> None:
        self.factory: SessionFactory = pipeline_factory(list)

    async def __call__(
        self, transport: WebRTCTransport, observers: list[Observer], idle: float | None
    ) -> PipelineTask:
        return await self.factory(transport, observers, idle)


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[WebRTCServer, str, Switch]]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    before = set(asyncio.all_tasks())
    switch = Switch()
    server = WebRTCServer(switch, max_sessions=1)
    url = await server.serve("127.0.0.1", 0)
    yield server, url, switch
    await server.close()
    await asyncio.sleep(0.2)
    left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert not left, f"tasks left behind: {[t.get_name() for t in left]}"


FAILURES = [
    pytest.param(
        bot_session_factory(parse_config(BAD_STRATEGY), DEMO_TOOLS),
        CONFIG,
        "The bot's configuration is invalid: ",
        "build failed: ",
        id="config",
    ),
    pytest.param(
        bot_session_factory(parse_config(UNKNOWN_LLM), DEMO_TOOLS),
        UNKNOWN_PROVIDER,
        "'nosuchllm'",
        "build failed: ",
        id="unknown-provider",
    ),
    pytest.param(
        bot_session_factory(parse_config(OPENAI_DEMO), DEMO_TOOLS),
        MISSING_KEY,
        MISSING_OPENAI,
        "service failed: ",
        id="missing-key",
    ),
    pytest.param(
        raising_factory, SESSION_FAILED, "the session factory has a bug", "build failed: ", id="bug"
    ),
    pytest.param(
        pipeline_factory(lambda: [FakeDyingService()]),
        SERVICE_FAILED,
        "The bot failed: the LLM provider: the provider closed the connection",
        "service failed: ",
        id="mid-call",
    ),
]


@pytest.mark.parametrize(("factory", "code", "words", "reason"), FAILURES)
async def test_peer_is_told_why_its_session_failed(
    served: tuple[WebRTCServer, str, Switch], factory: SessionFactory, code: str, words: str, reason: str
) -> None:
    server, url, switch = served
    switch.factory = factory
    peer = Caller()
    status, answer = await peer.connect(url)
    assert status == 200, answer
    session = server.sessions[answer["session_id"]]
    _, error = await peer.wait_for(lambda e: e["type"] == "error", 10)
    assert error["code"] == code and words in error["message"] and error["fatal"] is True, error
    assert "Traceback" not in error["message"] and "\n" not in error["message"]
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.end_reason is not None and session.end_reason.startswith(reason)
    assert "idle" not in session.end_reason
    assert session.failure is not None and session.failure.event() == error
    assert session.farewell_delivered is True  # acknowledged by the peer before the connection closed
    assert session.task is None or (session.task.has_finished and not session.task.leaked_tasks)
    assert server.sessions == {}
    await peer.close()

    # the next caller gets a working session in the freed slot
    switch.factory = pipeline_factory(list)
    healthy = Caller()
    status, answer = await healthy.connect(url)
    assert status == 200, answer
    await wait_until(lambda: healthy.connected_at is not None, 5)
    kept = server.sessions[answer["session_id"]]
    await asyncio.sleep(0.3)
    assert not kept.closed.is_set() and not any(e["type"] == "error" for _, e in healthy.events)
    await healthy.close()
    await asyncio.wait_for(kept.closed.wait(), 5)
    assert kept.end_reason is not None and kept.end_reason.startswith("client left")


async def test_favicon_answers(served: tuple[WebRTCServer, str, Switch]) -> None:
    _, url, _ = served
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "favicon.ico") as response:
            assert response.status == 200
            assert response.content_type == "image/svg+xml"
            assert (await response.text()).startswith("<svg")
        async with http.get(url) as response:
            assert 'rel="icon"' in await response.text()
