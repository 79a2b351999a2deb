"""Twilio Media Streams end to end: a fake Twilio speaks the protocol to the offline demo bot.

Real sockets and real time (the bot runs at its real pace): the fake caller sends espeak speech as
mu-law 8 kHz, plays the bot's audio 600 ms after it arrives (a slow mobile network: some words have left
the server but are not heard yet when the caller barges in), echoes marks when their audio has played,
and on ``clear`` drops its buffer and echoes every pending mark at once, as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from voiceframe.audio.g711 import ulaw_decode, ulaw_encode
from voiceframe.bot import build_bot
from voiceframe.demo import DEMO_TOOLS, demo_config
from voiceframe.frames import InterruptionFrame, now
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.transports.serializers.twilio import twiml_connect
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport

pytest.importorskip("voiceframe_espeak", reason="the demo bot needs plugins/espeak")
pytest.importorskip("voiceframe_pocketsphinx", reason="the demo bot needs plugins/pocketsphinx")
websockets = pytest.importorskip("websockets")

CHUNK = 160  # 20 ms of 8 kHz mu-law, what Twilio sends


@dataclass
class FakeTwilio:
    """The Twilio side of one Media Stream."""

    url: str
    latency: float = 0.6
    stream_sid: str = "MZ00000000000000000000000000000001"
    ws: Any = None
    media: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, pcm)
    clears: list[float] = field(default_factory=list)
    echoed: list[tuple[float, str]] = field(default_factory=list)
    pending: list[tuple[float, str]] = field(default_factory=list)  # (play time, mark)
    play_end: float = 0.0
    seq: int = 0
    closed: tuple[int, str] | None = None

    async def connect(self, params: dict[str, str] | None = None, encoding: str = "audio/x-mulaw") -> None:
        self.ws = await websockets.connect(self.url)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "streamSid": self.stream_sid,
            "accountSid": "AC0",
            "callSid": "CA0",
            "tracks": ["inbound"],
            "customParameters": params or {},
            "mediaFormat": {"encoding": encoding, "sampleRate": 8000, "channels": 1},
        }
        await self._send({"event": "start", "start": start, "streamSid": self.stream_sid})

    async def _send(self, body: dict[str, Any]) -> None:
        self.seq += 1
        await self.ws.send(json.dumps({"sequenceNumber": str(self.seq), **body}))

    async def speak(self, pcm8k: bytes) -> None:
        """Send mu-law audio in 20 ms messages at real-time pace."""
        ulaw = ulaw_encode(pcm8k)
        start = now()
        for i in range(0, len(ulaw), CHUNK):
            await asyncio.sleep(max(0.0, start + i / 8000 - now()))
            media = {"track": "inbound", "chunk": str(i // CHUNK + 1), "timestamp": str(i // 8)}
            media["payload"] = base64.b64encode(ulaw[i : i + CHUNK]).decode()
            await self._send({"event": "media", "streamSid": self.stream_sid, "media": media})

    async def silence(self, seconds: float) -> None:
        await self.speak(bytes(int(seconds * 8000) * 2))

    async def run(self) -> None:
        """Receive until the server closes; play audio and echo marks on time."""
        ticker = asyncio.ensure_future(self._tick())
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                assert msg["streamSid"] == self.stream_sid
                t = now()
                if msg["event"] == "media":
                    pcm = ulaw_decode(base64.b64decode(msg["media"]["payload"]))
                    self.media.append((t, pcm))
                    self.play_end = max(self.play_end, t + self.latency) + len(pcm) / 2 / 8000
                elif msg["event"] == "mark":
                    self.pending.append((self.play_end, msg["mark"]["name"]))
                elif msg["event"] == "clear":
                    self.clears.append(t)
                    self.play_end = t
                    for _, name in self.pending:  # Twilio echoes every pending mark after a clear
                        await self._echo(name)
                    self.pending.clear()
        except websockets.ConnectionClosed:
            pass
        finally:
            ticker.cancel()
            self.closed = (self.ws.close_code, self.ws.close_reason)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            t = now()
            while self.pending and self.pending[0][0] <= t:
                await self._echo(self.pending.pop(0)[1])

    async def _echo(self, name: str) -> None:
        self.echoed.append((now(), name))
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def speech_after(self, t: float) -> float:
        """Seconds of voiced bot audio that arrived after ``t``."""
        voiced = [p for at, p in self.media if at > t and np.abs(np.frombuffer(p, np.int16)).mean() > 200]
        return sum(len(p) for p in voiced) / 2 / 8000


class Interruptions(Observer):
    def __init__(self) -> None:
        self.times: list[float] = []

    async def on_push(self, event: PushEvent) -> None:
        if isinstance(event.frame, InterruptionFrame) and not self.times:
            self.times.append(event.timestamp)


def speech(text: str) -> bytes:
    from voiceframe_espeak import speak_to_pcm

    return speak_to_pcm(text, sample_rate=8000, voice="en-us", rate_wpm=140)


async def test_twilio_call_barge_in_marks_and_reply() -> None:
    sessions: list[tuple[Any, WebSocketTransport]] = []
    watch = Interruptions()

    def factory(transport: WebSocketTransport) -> Any:
        bot = build_bot(demo_config(), transport, tools=DEMO_TOOLS)
        sessions.append((bot, transport))
        return bot

    server = VoiceServer(factory, port=0, observers=lambda _t: [watch])
    await server.start()
    try:
        twilio = FakeTwilio(f"{server.url}/twilio")
        await twilio.connect({"caller": "+15550100"})
        receiving = asyncio.ensure_future(twilio.run())
        await twilio.silence(2.0)  # the greeting plays meanwhile
        bot, transport = sessions[0]
        assert transport.info.custom_parameters == {"caller": "+15550100"}
        assert transport.info.stream_id == twilio.stream_sid and transport.info.call_id == "CA0"
        assert twilio.speech_after(0) > 0.5  # greeting audio arrived, mu-law 8 kHz
        # barge in; (a lone "hello" over 8 kHz mu-law is not recognised by the demo's pocketsphinx setup)
        await twilio.speak(speech("what is the weather"))
        await twilio.silence(1.0)
        # the bot stopped: a clear came, within one chunk of the server's interruption
        assert watch.times and twilio.clears, "no barge-in / no clear"
        interrupted, cleared = watch.times[0], twilio.clears[0]
        assert 0 <= cleared - interrupted < 0.02 + 0.03  # one chunk, plus a loaded machine's scheduling
        # media the server had already written to the socket before the interruption can still arrive
        # after it (the client timestamps arrivals); queued audio is dropped: at most a chunk or two
        late = [at for at, _ in twilio.media if interrupted < at < cleared]
        assert len(late) <= 2
        # heard-text accounting: the greeting in the context is exactly the words whose marks came back
        output = transport.ws_output

        def heard_by(t: float) -> list[str]:
            echoed = {name for at, name in twilio.echoed if at < t}
            return [word.strip() for name, word in output.word_marks if name in echoed]

        greeting = next(m for m in bot.context.messages if m["role"] == "assistant")
        committed = greeting["content"].split()
        # never a word the caller did not hear (marks Twilio flushed on clear are echoed too, later)...
        assert committed == heard_by(cleared)[: len(committed)]
        # ...and every word heard, but for an echo still in flight when the server sent clear
        assert committed[: len(heard_by(cleared - 0.05))] == heard_by(cleared - 0.05)
        assert output.words_unheard > 0  # sent, due on our clock, but not yet played when cut off
        assert 2 <= len(committed) < len(bot.greeting.split())
        # the reply arrives as audio after the clear
        for _ in range(80):
            if twilio.speech_after(cleared) > 1.0:
                break
            await twilio.silence(0.1)
        assert twilio.speech_after(cleared) > 1.0
        users = [m["content"] for m in bot.context.messages if m["role"] == "user"]
        assert users == ["what is the weather"]
        await twilio._send({"event": "stop", "streamSid": twilio.stream_sid, "stop": {"callSid": "CA0"}})
        await asyncio.wait_for(receiving, 5)
        assert twilio.closed is not None and twilio.closed[0] == 1000
        for _ in range(100):
            if not server.sessions:
                break
            await asyncio.sleep(0.02)
        assert not server.sessions
    finally:
        await server.stop()


def test_twiml_answer_opens_a_bidirectional_stream() -> None:
    xml = twiml_connect("wss://example.org/twilio", {"from": "+1555<01>"})
    assert xml.endswith(
        '<Response><Connect><Stream url="wss://example.org/twilio">'
        '<Parameter name="from" value="+1555&lt;01&gt;"/></Stream></Connect></Response>'
    )


async def test_twiml_served_over_http_and_busy_when_full() -> None:
    import urllib.request

    server = VoiceServer(lambda t: None, port=0, limits=ServerLimits(max_sessions=0))
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/twiml"

        def post() -> str:
            req = urllib.request.Request(url, data=b"From=%2B15550100&CallSid=CA1", method="POST")
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.read().decode()

        busy = await asyncio.to_thread(post)
        assert "<Say>All our lines are busy" in busy  # no free session: the caller is told so
        server.limits.max_sessions = 1
        xml = await asyncio.to_thread(post)
        assert f'<Stream url="ws://127.0.0.1:{server.port}/twilio">' in xml
        assert '<Parameter name="from" value="+15550100"/>' in xml
    finally:
        await server.stop()


async def test_wrong_codec_in_start_is_refused() -> None:
    server = VoiceServer(lambda t: None, port=0)
    await server.start()
    try:
        for encoding in ("audio/x-alaw", "audio/L16"):
            twilio = FakeTwilio(f"{server.url}/twilio")
            await twilio.connect(encoding=encoding)
            await asyncio.wait_for(twilio.run(), 5)
            assert twilio.closed is not None and twilio.closed[0] == 1003
            assert "unsupported media format" in twilio.closed[1]
        assert not server.sessions
    finally:
        await server.stop()
