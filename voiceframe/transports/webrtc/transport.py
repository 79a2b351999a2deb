"""WebRTC transport (aiortc): one peer connection per session, Opus both ways, events on a data channel.

* :class:`BotAudioTrack` is the outbound track. aiortc pulls 20 ms frames from ``recv()``; the output
  transport pushes chunks at real-time pace. A small bounded buffer at 48 kHz joins the two, and
  ``recv()`` sends silence when it is empty so the browser's jitter buffer keeps running.
* :class:`WebRTCInput` reads the inbound track (48 kHz stereo from aiortc's Opus decoder) and hands it to
  :meth:`InputTransport.push_audio`, which converts it to the pipeline rate.
* :class:`WebRTCOutput` feeds the track and sends ``bot_speaking``, ``bot_word`` and ``clear`` events.
* :class:`SessionEvents` (an observer) sends ``user_speaking`` and ``transcript`` events.

Events are JSON objects with a ``type``; see ``static/client.js`` for the browser side.
"""

from __future__ import annotations

import asyncio
import fractions
import json
from collections import deque
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    now,
)
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.processor import DOWNSTREAM, FrameDirection
from voiceframe.transports.input import InputTransport, Transport
from voiceframe.transports.output import OutputTransport

__all__ = ["BotAudioTrack", "EventChannel", "SessionEvents", "WebRTCInput", "WebRTCOutput", "WebRTCTransport"]

RTC_RATE = 48000
FRAME_SECONDS = 0.02
FRAME_SAMPLES = int(RTC_RATE * FRAME_SECONDS)
_FRAME_BYTES = FRAME_SAMPLES * 2


class EventChannel:
    """JSON events to the client over a data channel; kept (bounded) until the channel opens."""

    def __init__(self, max_pending: int = 256) -> None:
        self._channel: Any = None
        self._pending: deque[str] = deque(maxlen=max_pending)
        self.sent = 0

    def attach(self, channel: Any) -> None:
        self._channel = channel
        channel.on("open", self._flush)
        if channel.readyState == "open":
            self._flush()

    def _flush(self) -> None:
        while self._pending and self._open():
            self._channel.send(self._pending.popleft())
            self.sent += 1

    def _open(self) -> bool:
        return self._channel is not None and self._channel.readyState == "open"

    def send(self, event: dict[str, Any]) -> None:
        data = json.dumps(event)
        if self._open():
            self._flush()
            self._channel.send(data)
            self.sent += 1
        else:
            self._pending.append(data)

    def delivered(self) -> bool:
        """Whether every event sent so far has reached the peer (SCTP acknowledged it)."""
        if self._pending or not self._open():
            return False
        if self._channel.bufferedAmount:
            return False
        # aiortc has no public "acknowledged" signal: its SCTP queues are empty once the peer acked
        sctp = getattr(self._channel, "transport", None)
        queues = ("_data_channel_queue", "_outbound_queue", "_sent_queue")
        return not any(getattr(sctp, q, None) for q in queues)

    async def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the peer has every event; closing sooner would drop them.

        Closing a peer connection aborts its SCTP association, so an event still in flight (the last
        ``error`` before a failed session closes) would never arrive.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.delivered():
            if loop.time() >= deadline or self._channel is None or self._channel.readyState == "closed":
                return False
            await asyncio.sleep(0.02)
        return True


class BotAudioTrack(MediaStreamTrack):
    """Outbound audio: 20 ms 48 kHz mono frames, bot audio when there is some, else silence."""

    kind = "audio"

    def __init__(self, *, max_buffer_seconds: float = 0.3) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._max_bytes = int(max_buffer_seconds * RTC_RATE) * 2
        self._resampler: Any = None
        self._resampler_key: tuple[int, int] = (0, 0)
        self._start: float | None = None
        self._n = 0
        self._last_write = 0.0
        self.dropped_bytes = 0
        self.frames_sent = 0
        self.audio_frames_sent = 0

    def write(self, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
        """Queue bot audio (int16, any rate); the oldest audio goes if the buffer is full."""
        from voiceframe.audio.pcm import downmix
        from voiceframe.audio.resample import StreamResampler

        if num_channels != 1:
            pcm = downmix(pcm, num_channels).tobytes()
        if self._resampler is None or self._resampler_key != (sample_rate, num_channels):
            self._resampler = StreamResampler(sample_rate, RTC_RATE)
            self._resampler_key = (sample_rate, num_channels)
        self._buffer += self._resampler.process(pcm)
        self._last_write = now()
        excess = len(self._buffer) - self._max_bytes
        if excess > 0:
            # the network side stalled: stay close to real time rather than fall further behind
            del self._buffer[:excess]
            self.dropped_bytes += excess

    def clear(self) -> None:
        """Drop queued audio at once (the user interrupted)."""
        self._buffer.clear()
        self._resampler = None

    @property
    def buffered_seconds(self) -> float:
        return len(self._buffer) / 2 / RTC_RATE

    def _take(self) -> bytes | None:
        buf = self._buffer
        if len(buf) >= _FRAME_BYTES:
            out = bytes(buf[:_FRAME_BYTES])
            del buf[:_FRAME_BYTES]
            return out
        # a short remainder is the end of a reply (the writer paused): pad it rather than hold it back
        if buf and now() - self._last_write > 2 * FRAME_SECONDS:
            out = bytes(buf) + bytes(_FRAME_BYTES - len(buf))
            buf.clear()
            return out
        return None

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        t = now()
        if self._start is None or t - (self._start + self._n * FRAME_SECONDS) > 0.2:
            # first frame, or the sender stalled for a while: restart the timeline instead of bursting
            self._start = t - self._n * FRAME_SECONDS
        else:
            self._n += 1
            delay = self._start + self._n * FRAME_SECONDS - t
            if delay > 0:
                await asyncio.sleep(delay)
        pcm = self._take()
        self.frames_sent += 1
        if pcm is None:
            pcm = bytes(_FRAME_BYTES)
        else:
            self.audio_frames_sent += 1
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.pts = self._n * FRAME_SAMPLES
        frame.sample_rate = RTC_RATE
        frame.time_base = fractions.Fraction(1, RTC_RATE)
        return frame


class WebRTCInput(InputTransport):
    """Reads the peer's audio track into the pipeline."""

    def __init__(self, *, sample_rate: int | None = None, name: str | None = None) -> None:
        super().__init__(sample_rate=sample_rate, name=name)
        self._track: Any = None
        self._started = False
        self.last_audio_at: float | None = None
        self.ended = asyncio.Event()

    def attach(self, track: Any) -> None:
        """Use ``track`` (the peer's audio) as this session's microphone."""
        self._track = track
        if self._started:
            self.create_task(self._read(track), name=f"{self.name}:reader")

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self._started = True
        self.last_audio_at = now()
        if self._track is not None:
            self.create_task(self._read(self._track), name=f"{self.name}:reader")

    async def _read(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                self.last_audio_at = now()
                channels = len(frame.layout.channels)
                pcm = frame.to_ndarray().tobytes()
                if frame.format.name != "s16" or len(pcm) != frame.samples * channels * 2:
                    raise ValueError(f"{self.name}: unexpected audio format {frame.format.name}")
                await self.push_audio(pcm, frame.sample_rate, channels)
        except MediaStreamError:
            pass  # the peer's track ended: the server tears the session down
        finally:
            self.ended.set()


class WebRTCOutput(OutputTransport):
    """Plays bot audio into :class:`BotAudioTrack`; tells the client what the bot says and when."""

    def __init__(
        self,
        events: EventChannel,
        *,
        track: BotAudioTrack | None = None,
        chunk_seconds: float = FRAME_SECONDS,
        name: str | None = None,
    ) -> None:
        super().__init__(chunk_seconds=chunk_seconds, name=name)
        self.events = events
        self.track = track or BotAudioTrack()
        self.speech_started_at: list[float] = []

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        self.track.write(chunk.audio, chunk.sample_rate, chunk.num_channels)

    async def clear(self) -> None:
        self.track.clear()
        self.events.send({"type": "clear"})

    async def on_word(self, frame: TTSTextFrame) -> None:
        self.events.send({"type": "bot_word", "text": frame.text})

    async def push(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        # the base class announces speaking changes both ways; tell the client once
        if direction == DOWNSTREAM and isinstance(frame, BotStartedSpeakingFrame | BotStoppedSpeakingFrame):
            speaking = isinstance(frame, BotStartedSpeakingFrame)
            if speaking:
                self.speech_started_at.append(now())
            self.events.send({"type": "bot_speaking", "speaking": speaking})
        await super().push(frame, direction)


class SessionEvents(Observer):
    """Sends the user's side (speaking state, final transcripts) to the client."""

    def __init__(self, events: EventChannel) -> None:
        self.events = events
        self._seen: deque[int] = deque(maxlen=64)
        self._user_speaking = False

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        if not isinstance(frame, TranscriptionFrame | UserStartedSpeakingFrame | UserStoppedSpeakingFrame):
            return
        if frame.id in self._seen:
            return  # the same frame seen at another hop
        self._seen.append(frame.id)
        if isinstance(frame, TranscriptionFrame):
            self.events.send({"type": "transcript", "role": "user", "text": frame.text})
            return
        speaking = isinstance(frame, UserStartedSpeakingFrame)
        if speaking != self._user_speaking:  # starts and stops are sent both ways as separate frames
            self._user_speaking = speaking
            self.events.send({"type": "user_speaking", "speaking": speaking})


class WebRTCTransport(Transport):
    """The input and output of one WebRTC session, sharing one event channel."""

    def __init__(self, *, events: EventChannel | None = None, max_buffer_seconds: float = 0.3) -> None:
        self.events = events or EventChannel()
        self.track = BotAudioTrack(max_buffer_seconds=max_buffer_seconds)
        self.webrtc_input = WebRTCInput(name="webrtc.input")
        self.webrtc_output = WebRTCOutput(self.events, track=self.track, name="webrtc.output")
        super().__init__(self.webrtc_input, self.webrtc_output)
