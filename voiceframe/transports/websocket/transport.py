"""WebSocket input and output transports: the pipeline ends of one client connection.

:class:`WebSocketInput` reads the client's messages in a task of its own, decodes them with the session's
serializer and pushes audio (converted to the pipeline rate) and DTMF into the pipeline; playout marks go
to the output. :class:`WebSocketOutput` sends each paced audio chunk through the link's bounded queue.

**Playout confirmation with marks** (Twilio; the raw protocol when the client asks for it). Our pacing
says when audio *left*; only the client knows when it was *played*. So when the output writes the audio
holding a word (or the audio a frame is queued behind) it sends a mark right after it and holds the
frame; when the client echoes that mark, the frame and everything held before it is released (the
assistant aggregator commits the word). Audio goes out ``send_ahead`` seconds before it plays (the
client's buffer against network and scheduling jitter); the marks ride in the stream with it, so the
lead changes when a word is *sent*, never when it counts as heard. On an interruption the output sends
``clear`` and drops every held word (``clear`` also drops what the client holds, the lead included):
Twilio echoes all pending marks after a ``clear`` whether or not they played, so echoes of marks sent
before the ``clear`` are ignored. The context therefore holds only words whose marks came back
before the user interrupted: it errs toward "not heard" by at most one network round trip.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

from voiceframe.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSTextFrame,
)
from voiceframe.processor import FrameDirection
from voiceframe.transports.input import InputTransport, Transport
from voiceframe.transports.output import OutputTransport
from voiceframe.transports.serializers.base import (
    AudioIn,
    DTMFIn,
    MarkIn,
    ProtocolError,
    Serializer,
    StopIn,
)
from voiceframe.transports.websocket.budget import (
    AHEAD_SLICE,
    CLOSE_OVER_BUDGET,
    YIELD_EVERY,
    BudgetExceeded,
    InboundBudget,
)
from voiceframe.transports.websocket.link import WebSocketLink

__all__ = ["WebSocketInput", "WebSocketOutput", "WebSocketTransport"]

#: frames held for confirmation beyond this are released unconfirmed (a client that never echoes marks)
MAX_HELD = 2000
#: chunks written in one go (a burst) are sent as messages of at most this much audio
MAX_BATCH_SECONDS = 0.2


class WebSocketOutput(OutputTransport):
    """Sends bot audio to the client; with marks, releases words only once the client played them."""

    def __init__(
        self,
        link: WebSocketLink,
        serializer: Serializer,
        *,
        chunk_seconds: float = 0.02,
        confirm_timeout: float = 2.0,
        send_ahead: float = 0.0,
        name: str | None = None,
    ) -> None:
        # with marks (Twilio) what was heard is what the client confirms: each mark is written right
        # after the audio holding its word, so it marks the exact heard position however far ahead of
        # playout that audio is sent
        super().__init__(
            chunk_seconds=chunk_seconds,
            send_ahead=send_ahead,
            confirmed_playout=serializer.marks,
            name=name,
        )
        self.link = link
        self.serializer = serializer
        self.confirm_timeout = confirm_timeout
        self._marks = itertools.count(1)
        self._held: deque[tuple[str, Frame, FrameDirection]] = deque()
        self._confirmed_all = asyncio.Event()  # set whenever nothing is held
        self._cleared = False
        self._unsent: list[OutputAudioRawFrame] = []  # written chunks not yet sent (see write_audio)
        self.chunks_sent = 0
        self.audio_messages = 0  # media messages they went out in
        self.marks_sent = 0
        self.marks_confirmed = 0
        self.words_unheard = 0  # words dropped on clear because their marks had not come back
        #: (mark name, word) of recent word marks, for logs and tests
        self.word_marks: deque[tuple[str, str]] = deque(maxlen=512)

    @property
    def confirming(self) -> bool:
        return self.serializer.marks

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self.create_task(self.link.run_sender(), name=f"{self.name}:sender")

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        # held until the player has written all that is due (flush_writes) or a mark must follow it:
        # the send-ahead burst at the start of a reply goes out as a few messages, not one per 20 ms
        # (a burst of tiny TCP segments outruns a fresh congestion window, and the rest then waits
        # for the client's delayed ACK: ~40 ms on loopback, longer than a chunk)
        self._unsent.append(chunk)
        self.chunks_sent += 1

    async def flush_writes(self) -> None:
        self._send_unsent()

    def _send_unsent(self) -> None:
        chunks, self._unsent = self._unsent, []
        batch: list[OutputAudioRawFrame] = []
        for chunk in chunks:
            if batch and (
                (chunk.sample_rate, chunk.num_channels) != (batch[0].sample_rate, batch[0].num_channels)
                or sum(c.duration for c in batch) + chunk.duration > MAX_BATCH_SECONDS + 1e-9
            ):
                self._send_audio(batch)
                batch = []
            batch.append(chunk)
        if batch:
            self._send_audio(batch)

    def _send_audio(self, batch: list[OutputAudioRawFrame]) -> None:
        first = batch[0]
        chunk = first
        if len(batch) > 1:
            audio = b"".join(c.audio for c in batch)
            chunk = OutputAudioRawFrame(
                audio=audio, sample_rate=first.sample_rate, num_channels=first.num_channels, pts=first.pts
            )
        for message in self.serializer.encode_audio(chunk):
            self.link.send(message)
        self.audio_messages += 1

    async def playout_reached(self, frame: Frame, direction: FrameDirection) -> None:
        if not self.confirming:
            await self.release(frame, direction)
            return
        name = str(next(self._marks))
        mark = self.serializer.encode_mark(name)
        if mark is None:
            await self.release(frame, direction)
            return
        self._send_unsent()
        self.link.send(mark)  # right after the audio that holds the word: echoed when that has played
        self.marks_sent += 1
        self._held.append((name, frame, direction))
        if isinstance(frame, TTSTextFrame):
            self.word_marks.append((name, frame.text))
        while len(self._held) > MAX_HELD:
            _, f, d = self._held.popleft()
            await self.release(f, d)

    async def confirm(self, name: str) -> None:
        """The client echoed mark ``name``: it played everything up to it."""
        if not any(n == name for n, _, _ in self._held):
            return  # a mark from before a clear (Twilio echoes those at once), or unknown
        self.marks_confirmed += 1
        while self._held:
            held, frame, direction = self._held.popleft()
            await self.release(frame, direction)
            if held == name:
                break
        if not self._held:
            self._confirmed_all.set()

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self._cleared = False
        await super().on_interruption(frame)
        if self._held and not self._cleared:
            # our playout looked finished, but the client has not confirmed it played it all: the
            # tail may still be sounding, so it must be cleared and its unconfirmed words dropped
            await self.clear()

    async def clear(self) -> None:
        self._cleared = True
        self._unsent.clear()
        self.link.drop(self.serializer.is_audio)  # audio still queued here never left
        message = self.serializer.encode_clear()
        if message is not None:
            self.link.send(message)
        held, self._held = self._held, deque()
        for _, frame, direction in held:
            if isinstance(frame, TTSTextFrame):
                self.words_unheard += 1
            elif not frame.interruptible:
                await self.release(frame, direction)  # e.g. a function-call result: it must go on

    async def on_word(self, frame: TTSTextFrame) -> None:
        event = self.serializer.encode_event({"type": "transcript", "role": "bot", "text": frame.text})
        if event is not None:
            self.link.send(event)

    async def on_end(self, frame: EndFrame) -> None:
        await super().on_end(frame)
        # the last words count once the client confirms them; a client that went away never will
        if self._held and not self.link.ended.is_set():
            self._confirmed_all.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (self._confirmed_all, self.link.ended)]
            await asyncio.wait(waits, timeout=self.confirm_timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        self._held.clear()
        await self.link.drain(self.confirm_timeout)

    async def on_cancel(self, frame: CancelFrame) -> None:
        await super().on_cancel(frame)
        self._held.clear()


class WebSocketInput(InputTransport):
    """Reads the client's messages and pushes audio and DTMF into the pipeline."""

    def __init__(
        self,
        link: WebSocketLink,
        serializer: Serializer,
        output: WebSocketOutput,
        *,
        sample_rate: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(sample_rate=sample_rate, name=name)
        self.link = link
        self.serializer = serializer
        self.output = output
        self.dtmf: list[str] = []
        #: what the client may send (the server sets its configured limits)
        self.budget = InboundBudget()

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self.create_task(self._read(), name=f"{self.name}:reader")

    async def _read(self) -> None:
        link, budget = self.link, self.budget
        since_yield = 0
        while not link.ended.is_set():
            message = await link.receive()
            if message is None:
                link.end(1000, "client disconnected")
                return
            since_yield += 1
            if since_yield >= YIELD_EVERY or budget.ahead > AHEAD_SLICE:
                # a burst that is already buffered would otherwise be digested in one go: give the loop
                # to the other sessions between slices (one message per slice for a client running ahead)
                since_yield = 0
                await asyncio.sleep(0)
            try:
                event = self.serializer.decode(message)
                if isinstance(event, AudioIn):
                    delay = budget.audio_delay(
                        len(event.pcm) / (2 * max(event.num_channels, 1) * max(event.sample_rate, 1))
                    )
                    if delay > 0:  # ahead of its budget: read no faster than it allows
                        await asyncio.sleep(delay)
                    await self.push_audio(event.pcm, event.sample_rate, event.num_channels)
                    continue
                budget.charge_message()
                if isinstance(event, MarkIn):
                    await self.output.confirm(event.name)
                elif isinstance(event, DTMFIn):
                    self.dtmf.append(event.digit)
                    await self.push_dtmf(event.digit)
                elif isinstance(event, StopIn):
                    link.end(1000, event.reason)
                    return
            except BudgetExceeded as exc:
                link.end(CLOSE_OVER_BUDGET, str(exc))
                return
            except ProtocolError as exc:
                link.end(exc.code, str(exc))
                return
            except ValueError as exc:  # audio the input transport refuses, a bad DTMF digit
                # the reason goes to the client: say what it sent, not which processor refused it
                link.end(1008, f"bad input: {str(exc).removeprefix(f'{self.name}: ')}")
                return


class WebSocketTransport(Transport):
    """The input and output of one WebSocket session, plus what the client announced (``info``)."""

    def __init__(
        self,
        link: WebSocketLink,
        serializer: Serializer,
        *,
        sample_rate: int | None = None,
        chunk_seconds: float = 0.02,
        send_ahead: float = 0.0,
        session_id: str = "",
    ) -> None:
        output = WebSocketOutput(link, serializer, chunk_seconds=chunk_seconds, send_ahead=send_ahead)
        input = WebSocketInput(link, serializer, output, sample_rate=sample_rate)
        super().__init__(input, output)
        self.link = link
        self.serializer = serializer
        self.info = serializer.info
        self.session_id = session_id
        self.ws_input = input
        self.ws_output = output
