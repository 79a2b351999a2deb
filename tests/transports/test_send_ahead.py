"""Telephony send-ahead: audio goes out ahead of playout, marks still say exactly what was heard.

On the virtual clock, with no sockets: a :class:`MemoryWire` carries one Twilio Media Stream between
the real :class:`WebSocketInput`/:class:`WebSocketOutput` (real serializer, real link) and a
:class:`BufferlessCaller`, with a latency each way and, if asked, random jitter on the way to the
caller (in order, as TCP delivers). The caller has no jitter buffer: it plays each ``media`` message
the moment it arrives (or right after the one playing) for exactly its duration, hears a dropout
when the next message of a reply comes after the current one ended, echoes each ``mark`` when the
audio sent before it has played, and on ``clear`` drops what it holds and echoes every pending mark
at once, as Twilio does. ``tests/transports/test_jitter.py`` uses the same caller over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from voiceframe.clock import virtual_time
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import Frame, InputDTMFFrame, TTSSpeakFrame, TTSTextFrame, now
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor
from voiceframe.task import PipelineParams, PipelineTask
from voiceframe.testing.fakes import FakeTTS
from voiceframe.transports.serializers.base import Message
from voiceframe.transports.serializers.twilio import TwilioSerializer
from voiceframe.transports.websocket.link import WebSocketLink
from voiceframe.transports.websocket.transport import WebSocketInput, WebSocketOutput

#: a reply has ended when no audio has come for this long after the caller played everything
QUIET = 0.4
#: float rounding of clock sums (virtual time is exact otherwise): not a dropout
_ROUNDING = 1e-9
CHUNK = 0.02


# ---------------------------------------------------------------------------------------- the caller


@dataclass
class Reply:
    """The bot audio of one reply as the caller received and played it."""

    arrivals: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # how much audio each message held
    dropouts: list[float] = field(default_factory=list)  # how long the caller heard nothing, each time

    @property
    def second_chunk_gap(self) -> float | None:
        """How long after the reply's first audio its second 20 ms arrived (in the same message: 0)."""
        position = 0.0
        for at, seconds in zip(self.arrivals, self.seconds, strict=True):
            position += seconds
            if position > CHUNK + _ROUNDING:
                return at - self.arrivals[0]
        return None


@dataclass
class BufferlessCaller:
    """The Twilio side of one call, playing bot audio with no jitter buffer (see the module doc).

    Over a socket: :meth:`connect` then :meth:`run`. In memory: feed :meth:`handle` and drain
    :attr:`outbox`.
    """

    stream_sid: str
    url: str = ""
    ws: Any = None
    replies: list[Reply] = field(default_factory=list)
    play_end: float = 0.0  # when the audio received so far ends playing
    #: every message the caller sent, in wire order: ("mark", name) echoes and ("dtmf", digit) presses
    sent: list[tuple[float, str, str]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    dropped: list[float] = field(default_factory=list)  # seconds of received audio each clear discarded
    marks_received: list[tuple[float, str]] = field(default_factory=list)
    played: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds) of each message
    received: list[tuple[float, float]] = field(default_factory=list)  # (arrival, seconds) of each one
    closed: tuple[int | None, str] | None = None
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _pending: dict[str, asyncio.TimerHandle] = field(default_factory=dict)  # mark -> its echo
    _last_arrival: float = 0.0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _seq: int = 0

    def start_messages(self) -> list[dict[str, Any]]:
        start = {
            "streamSid": self.stream_sid,
            "accountSid": "AC0",
            "callSid": "CA" + self.stream_sid[2:],
            "tracks": ["inbound"],
            "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        return [
            {"event": "connected", "protocol": "Call", "version": "1.0.0"},
            {"event": "start", "start": start, "streamSid": self.stream_sid},
        ]

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url)
        for body in self.start_messages():
            self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        # one queue, one sender: what the log says was sent first went first on the wire
        self._seq += 1
        self.outbox.put_nowait({"sequenceNumber": str(self._seq), **body})

    def press(self, digit: str) -> None:
        self.sent.append((now(), "dtmf", digit))
        self._send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"digit": digit}})

    def hangup(self) -> None:
        self._send({"event": "stop", "streamSid": self.stream_sid, "stop": {"callSid": "CA0"}})

    def _echo(self, name: str) -> None:
        self._pending.pop(name, None)
        self.sent.append((now(), "mark", name))
        self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def echoed_before(self, digit: str) -> set[str]:
        """Marks echoed before the first press of ``digit``."""
        names: set[str] = set()
        for _, kind, value in self.sent:
            if kind == "dtmf" and value == digit:
                return names
            if kind == "mark":
                names.add(value)
        raise AssertionError(f"{digit!r} was never pressed")

    async def _sender(self) -> None:
        while True:
            body = await self.outbox.get()
            await self.ws.send(json.dumps(body))

    async def run(self) -> None:
        """Receive until the server closes: play audio, echo marks when played, obey ``clear``."""
        import websockets

        sender = asyncio.ensure_future(self._sender())
        try:
            async for raw in self.ws:
                self.handle(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.hang_up_now()
            sender.cancel()
            self.closed = (self.ws.close_code, self.ws.close_reason)

    def handle(self, raw: Message) -> None:
        """One message from the server, as it arrives (now)."""
        t = now()
        msg = json.loads(raw)
        assert msg["streamSid"] == self.stream_sid
        event = msg["event"]
        if event == "media":
            self._play(t, len(base64.b64decode(msg["media"]["payload"])) / 8000)
        elif event == "mark":
            name = msg["mark"]["name"]
            self.marks_received.append((t, name))
            if self.play_end <= t:
                self._echo(name)
            else:
                loop = asyncio.get_running_loop()
                self._pending[name] = loop.call_at(self.play_end, self._echo, name)
        elif event == "clear":
            self.clears.append(t)
            self.dropped.append(max(self.play_end - t, 0.0))
            self.play_end = t
            # what had not played yet is never heard: cut the message playing now, drop the rest
            self.played = [(s, min(n, t - s)) for s, n in self.played if s < t]
            for name, handle in list(self._pending.items()):
                handle.cancel()
                self._echo(name)  # Twilio echoes every pending mark after a clear

    def hang_up_now(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def _play(self, t: float, seconds: float) -> None:
        new_reply = not self.replies or t - max(self.play_end, self._last_arrival) >= QUIET
        if new_reply:
            self.replies.append(Reply())
        reply = self.replies[-1]
        if not new_reply and t > self.play_end + _ROUNDING:
            reply.dropouts.append(t - self.play_end)  # the last message ended before this one came
        reply.arrivals.append(t)
        reply.seconds.append(seconds)
        self.received.append((t, seconds))
        self.played.append((max(self.play_end, t), seconds))
        self.play_end = max(self.play_end, t) + seconds
        self._last_arrival = t
        self._arrived.set()

    def played_by(self, t: float) -> float:
        """Seconds of bot audio the caller had played by ``t``."""
        return sum(max(min(start + seconds, t) - start, 0.0) for start, seconds in self.played)

    async def reply_played(self, since: float, timeout: float = 15.0) -> None:
        """Wait for audio after ``since``, then until the caller has played all it got and no audio
        came for :data:`QUIET` seconds."""
        async with asyncio.timeout(timeout):
            await self.audio_after(since)
            while (quiet_at := max(self.play_end, self._last_arrival) + QUIET) > now():
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), quiet_at - now())

    async def audio_after(self, since: float) -> None:
        while self._last_arrival <= since:
            self._arrived.clear()
            await self._arrived.wait()


class KeypadReplies(FrameProcessor):
    """A digit asks for its reply; ``*`` interrupts the bot (a barge-in without speech recognition)."""

    def __init__(self, replies: dict[str, str]) -> None:
        super().__init__()
        self.replies = replies

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputDTMFFrame) and direction == DOWNSTREAM:
            if frame.digit == "*":
                await self.broadcast_interruption()
            elif frame.digit in self.replies:
                await self.push(TTSSpeakFrame(text=self.replies[frame.digit]))
            return
        await self.push(frame, direction)


# ------------------------------------------------------------------------------ a call in memory


class MemoryWire:
    """One connection in memory: ``latency`` each way, plus up to ``jitter`` more towards the caller
    (random, seeded; messages stay in order, and messages sent together travel together, as
    back-to-back packets do)."""

    def __init__(self, caller: BufferlessCaller, latency: float, jitter: float = 0.0, seed: int = 1) -> None:
        self.caller = caller
        self.latency, self.jitter = latency, jitter
        self._random = random.Random(seed)
        self._last_delivery = 0.0
        self._sent_at, self._delay = -1.0, latency
        # in flight, oldest first: each timer delivers the oldest (timers due at the same time may run
        # in any order, the wire may not)
        self._down: deque[Message] = deque()
        self._up: deque[str] = deque()
        self.to_server: asyncio.Queue[Message | None] = asyncio.Queue()

    async def server_send(self, message: Message) -> None:
        if now() != self._sent_at:
            self._sent_at = now()
            self._delay = self.latency + (self._random.uniform(0.0, self.jitter) if self.jitter else 0.0)
        self._last_delivery = at = max(now() + self._delay, self._last_delivery)
        self._down.append(message)
        asyncio.get_running_loop().call_at(at, lambda: self.caller.handle(self._down.popleft()))

    async def server_receive(self) -> Message | None:
        return await self.to_server.get()

    async def carry_caller_messages(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            body = await self.caller.outbox.get()
            self._up.append(json.dumps(body))
            loop.call_at(now() + self.latency, lambda: self.to_server.put_nowait(self._up.popleft()))


class WordTimes(FrameProcessor):
    """After the output: when each word was released (confirmed heard)."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[tuple[float, str]] = []

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TTSTextFrame) and direction == DOWNSTREAM:
            self.released.append((now(), frame.text))
        await self.push(frame, direction)


@dataclass
class MemoryCall:
    caller: BufferlessCaller
    wire: MemoryWire
    output: WebSocketOutput
    tts: FakeTTS
    context: LLMContext
    released: WordTimes
    task: PipelineTask
    _running: list[asyncio.Future[Any]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        *,
        lead: float,
        latency: float,
        jitter: float = 0.0,
        replies: dict[str, str] | None = None,
        word_duration: Any = None,
    ) -> MemoryCall:
        caller = BufferlessCaller("MZ" + "0" * 31 + "1")
        wire = MemoryWire(caller, latency, jitter)
        serializer = TwilioSerializer()
        for body in caller.start_messages():
            serializer.handshake(json.dumps(body))
        assert serializer.started
        while not caller.outbox.empty():  # the handshake went straight to the serializer
            caller.outbox.get_nowait()
        link = WebSocketLink(wire.server_receive, wire.server_send)
        output = WebSocketOutput(link, serializer, send_ahead=lead)
        ws_input = WebSocketInput(link, serializer, output)
        tts = FakeTTS(
            latency=0.05, sample_rate=8000, **({"word_duration": word_duration} if word_duration else {})
        )
        context = LLMContext()
        released = WordTimes()
        pipeline = Pipeline(
            [ws_input, KeypadReplies(replies or {}), tts, output, released, AssistantAggregator(context)]
        )
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000)
        task = PipelineTask(pipeline, params=params)
        call = cls(caller, wire, output, tts, context, released, task)
        call._running = [
            asyncio.ensure_future(task.run()),
            asyncio.ensure_future(wire.carry_caller_messages()),
        ]
        return call

    async def hang_up(self) -> None:
        self.caller.hangup()
        await asyncio.sleep(1.0)
        await self.task.cancel("the caller hung up")
        runner, carrier = self._running
        await runner
        carrier.cancel()
        self.caller.hang_up_now()

    def words(self) -> list[tuple[str, float]]:
        """(word, pts) of every word the TTS produced, in order (one context per reply here)."""
        return [value for _, kind, value in self.tts.generated if kind == "word"]

    def assistant_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.context.messages if m["role"] == "assistant"]


def chunk_end(pts: float) -> float:
    """End of the 20 ms chunk holding the word that starts at ``pts`` (its mark follows that chunk)."""
    return (math.floor(pts / CHUNK + 1e-9) + 1) * CHUNK


SENTENCE = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


# ------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("latency", [0.0, 0.045])
@pytest.mark.parametrize("lead", [0.0, 0.15, 0.4])
async def test_barge_in_commits_exactly_the_words_whose_marks_came_back(lead: float, latency: float) -> None:
    with virtual_time():
        call = await MemoryCall.start(lead=lead, latency=latency, replies={"1": SENTENCE})
        caller = call.caller
        t0 = now()
        caller.press("1")
        await caller.audio_after(t0)
        first_audio = caller.replies[0].arrivals[0]
        await asyncio.sleep(1.333)  # mid-reply, off any chunk boundary
        barge_in = now()
        caller.press("*")
        await asyncio.sleep(0.5)
        await call.hang_up()

    words = call.words()
    marked = dict(call.output.word_marks)
    heard = caller.echoed_before("*")
    (message,) = call.assistant_messages()
    committed = message["content"].split()
    # the context holds exactly the words whose marks the caller echoed before it barged in...
    assert committed == [marked[n].strip() for n in sorted(heard, key=int) if n in marked]
    # ...which are the words whose first 20 ms the caller had played by then: computed from the
    # caller's own playout and the TTS word times, the same for every lead
    played = caller.played_by(barge_in)
    assert played == pytest.approx(barge_in - first_audio)  # no dropout: the reply played on
    assert committed == [w for w, pts in words if chunk_end(pts) <= played + _ROUNDING]
    assert 3 <= len(committed) < len(words)
    assert call.context.is_interrupted(message)
    # never early: each word was released after the caller had played its chunk and the echo came back
    starts = dict(words)
    for at, text in call.released.released:
        assert caller.played_by(at - latency) >= chunk_end(starts[text]) - _ROUNDING
    # the lead was real: at the barge-in the caller held `lead` of audio (and the marks in it) that it
    # had not played; the clear dropped exactly that, and no audio of the reply came after the clear
    (cleared,) = caller.clears
    (dropped,) = caller.dropped
    assert dropped == pytest.approx(lead, abs=CHUNK + _ROUNDING)
    received = sum(n for at, n in caller.received if at < barge_in)
    in_hand = [marked[n] for t, n in caller.marks_received if t < barge_in and n not in heard and n in marked]
    assert in_hand == [w for w, pts in words if played + _ROUNDING < chunk_end(pts) <= received + _ROUNDING]
    if lead >= 0.4:  # longer than a word: some words had left the server, not yet heard
        assert in_hand
    # those were held, never committed, and dropped at the clear
    assert call.output.words_unheard >= len(in_hand)
    assert all(t <= cleared for t in caller.replies[-1].arrivals)
    assert caller.replies[0].dropouts == []


@pytest.mark.parametrize(("lead", "dropouts"), [(0.0, True), (0.1, False), (0.15, False)])
async def test_a_caller_without_jitter_buffer_hears_dropouts_only_without_enough_lead(
    lead: float, dropouts: bool
) -> None:
    # each message is delayed by up to 100 ms more than the first of its reply: a chunk sent `lead`
    # before its time still arrives in time when lead >= 100 ms; at lead 0 some come late (seeded)
    replies = {"1": SENTENCE, "2": "a second reply with several words in it to hear out"}
    with virtual_time():
        call = await MemoryCall.start(lead=lead, latency=0.03, jitter=0.1, replies=replies)
        caller = call.caller
        for digit in "12":
            pressed = now()
            caller.press(digit)
            await caller.reply_played(pressed)
        await call.hang_up()
    assert len(caller.replies) == 2 and all(len(r.arrivals) > 50 for r in caller.replies)
    heard_gaps = [d for r in caller.replies for d in r.dropouts]
    assert bool(heard_gaps) == dropouts, heard_gaps
    # played in full either way: every word committed once its mark came back
    assert [m["content"].split() for m in call.assistant_messages()] == [r.split() for r in replies.values()]
