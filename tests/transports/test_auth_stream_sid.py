"""Inbound ``streamSid`` checked on every message: a ``media``, ``dtmf``, ``mark`` or ``stop`` under
another stream's SID (or none) is ignored and logged once per kind, and the real call goes on."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.transports.waiting import wait_until
from voiceframe.frames import InputAudioRawFrame, InputDTMFFrame
from voiceframe.log import logger
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.pipeline import Pipeline
from voiceframe.transports.serializers.base import AudioIn, StopIn
from voiceframe.transports.serializers.twilio import TwilioSerializer
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport
from voiceframe.transports.websocket.auth import ServerAuth

websockets = pytest.importorskip("websockets")

OURS, FOREIGN = "MZ00000000000000000000000000000001", "MZ99999999999999999999999999999999"
SILENCE = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of mu-law silence


def message(event: str, sid: str | None, **body: Any) -> str:
    data: dict[str, Any] = {"event": event, **body}
    if sid is not None:
        data["streamSid"] = sid
    return json.dumps(data)


def media(sid: str | None) -> str:
    return message("media", sid, media={"track": "inbound", "payload": SILENCE})


def started() -> TwilioSerializer:
    serializer = TwilioSerializer()
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    start = {"streamSid": OURS, "callSid": "CA1", "mediaFormat": fmt}
    serializer.handshake(json.dumps({"event": "start", "streamSid": OURS, "start": start}))
    return serializer


def test_decode_ignores_other_streams_and_logs_once_per_kind() -> None:
    serializer = started()
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        for _ in range(50):
            assert serializer.decode(media(FOREIGN)) is None
        assert serializer.decode(message("stop", FOREIGN, stop={})) is None
        assert serializer.decode(message("stop", None, stop={})) is None  # no SID: not ours either
        assert serializer.decode(message("dtmf", FOREIGN, dtmf={"digit": "1"})) is None
        assert serializer.decode(message("mark", FOREIGN, mark={"name": "3"})) is None
        assert isinstance(serializer.decode(media(OURS)), AudioIn)
        assert isinstance(serializer.decode(message("stop", OURS, stop={})), StopIn)
    finally:
        logger.remove(sink)
    assert serializer.foreign_messages == {"media": 50, "stop": 2, "dtmf": 1, "mark": 1}
    assert len(lines) == 4, lines  # one line per kind, not per message
    assert all(f"Twilio stream {OURS}: ignored a" in line for line in lines)
    assert FOREIGN in lines[0] and "'media'" in lines[0]


class Inbound(Observer):
    """Counts caller audio and digits reaching the pipeline."""

    def __init__(self) -> None:
        self.audio = 0
        self.digits: list[str] = []

    async def on_push(self, event: PushEvent) -> None:
        if isinstance(event.frame, InputAudioRawFrame):
            self.audio += 1
        elif isinstance(event.frame, InputDTMFFrame):
            self.digits.append(event.frame.digit)


async def test_foreign_stop_and_media_do_not_touch_the_real_call(monkeypatch: pytest.MonkeyPatch) -> None:
    inbound = Inbound()
    serializers: list[Any] = []

    def bot(transport: WebSocketTransport) -> Pipeline:
        serializers.append(transport.serializer)
        return Pipeline([transport.input(), transport.output()])

    vs = VoiceServer(
        bot,
        port=0,
        auth=ServerAuth(twilio=False),
        limits=ServerLimits(idle_timeout=None),
        observers=lambda _t: [inbound],
    )
    await vs.start()
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{vs.port}/twilio")
        await ws.send(message("connected", None, protocol="Call", version="1.0.0"))
        start = {
            "streamSid": OURS,
            "callSid": "CA1",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(message("start", OURS, start=start))
        await wait_until(lambda: bool(serializers) and len(vs.sessions) == 1)
        for _ in range(20):
            await ws.send(media(FOREIGN))
        await ws.send(message("dtmf", FOREIGN, dtmf={"digit": "9"}))
        await ws.send(message("stop", FOREIGN, stop={}))
        await wait_until(lambda: sum(serializers[0].foreign_messages.values()) == 22)
        assert inbound.audio == 0 and inbound.digits == []  # nothing of another stream was heard
        assert len(vs.sessions) == 1  # the foreign stop ended nothing
        # the real call goes on: its audio and digits arrive, its own stop ends it normally
        for _ in range(10):
            await ws.send(media(OURS))
        await ws.send(message("dtmf", OURS, dtmf={"digit": "1"}))
        await wait_until(lambda: inbound.audio > 0 and "1" in inbound.digits)
        assert "9" not in inbound.digits
        await ws.send(message("stop", OURS, stop={}))
        await ws.wait_closed()
        assert ws.close_code == 1000
        await wait_until(lambda: not vs.sessions)
    finally:
        logger.remove(sink)
        await vs.stop()
    foreign = [line for line in lines if "for another stream" in line]
    assert len(foreign) == 3, lines  # media, dtmf, stop: once each
