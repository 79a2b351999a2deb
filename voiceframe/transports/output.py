"""The base output transport: plays bot audio in real time and releases each word as it is heard.

:class:`OutputTransport` takes audio (``OutputAudioRawFrame``, ``TTSAudioRawFrame``), re-chunks it
(20 ms by default), and hands each chunk to :meth:`OutputTransport.write_audio` exactly when it is
due on the pipeline clock (``send_ahead`` earlier, see below), so the sink never holds more than a
chunk plus the lead and an interruption stops the bot within one chunk. Subclasses (websocket,
WebRTC, file) override two methods:

* ``async write_audio(chunk)``: send one chunk (an ``OutputAudioRawFrame`` whose ``pts`` is the
  pipeline-clock time it starts playing). Called in order, at real-time pace.
* ``async clear()``: the user interrupted; tell the client to drop audio it has buffered
  (Twilio ``clear``, a WebRTC data-channel message, ...).

and may override :meth:`OutputTransport.on_word` (a word became audible, e.g. to send captions) and
:meth:`OutputTransport.flush_writes` (the player has written all that is due: send a batch).

**Word timing contract.** A ``TTSTextFrame``'s ``pts`` is seconds from the start of its TTS
context's audio (``context_id``; ``TTSStartedFrame``/``TTSStoppedFrame`` bracket a context). The
transport maps it onto the playout clock through the context's own audio (gaps in the audio stream
are accounted for) and sends the word downstream exactly when playout reaches it, whether the word
arrived before or after its audio. A word with ``pts=None`` (a TTS without timestamps) gets a time
estimated from the context's audio duration and character counts. A released word has been heard:
it is marked uninterruptible, so no queue or epoch check after the transport can drop it, and an
assistant aggregator placed after the transport commits exactly the heard words.

**Send-ahead.** With ``send_ahead`` each chunk is written that long before its ``pts`` (the client's
buffer: a stall shorter than that is not heard), and ``clear()`` must drop what the client holds.
Words and frames still follow the playout clock, unless the subclass says the client confirms playout
(``confirmed_playout=True``: Twilio marks): then :meth:`OutputTransport.playout_reached` is called when
the audio before a word is *written*, in stream order, so a mark sent at that moment sits at the
word's exact position in the stream, and the word counts as heard only when the client echoes it.

Other data and control frames (``LLMFullResponseStartFrame``/``EndFrame``, ``TTSStartedFrame``/
``StoppedFrame``, ...) leave when the audio queued before them has played, so they stay in order
with the audio. ``BotStartedSpeakingFrame``/``BotStoppedSpeakingFrame`` go both ways; "stopped"
follows ``stop_gap`` seconds of silence.

On ``InterruptionFrame``: words whose time has come are released, then all queued audio and words are
dropped at once, contexts of the interrupted turn are closed (late words for them are dropped),
"stopped speaking" is sent and :meth:`OutputTransport.clear` is called, all before the interruption
travels on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from voiceframe.audio.rechunk import Rechunker
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    now,
)
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor

__all__ = ["OutputTransport"]

_AUDIO, _FRAME, _WORD = 0, 1, 2
# how a chunk follows the audio before it: after silence, straight on from another sentence, or inside
# the same sentence
_FRESH, _JOIN, _MID = 0, 1, 2
_MAX_CLOSED_CONTEXTS = 64
# a timer may fire this much before its deadline (clock resolution, virtual time rounding): treat
# what is due that soon as due now, or the player would spin on a timer that fires "early"
_EPS = 1e-6
# a word that starts exactly where a chunk starts is in that chunk, and the mark for it must follow that
# chunk; sums of clock times may put the word a rounding error (far below this) earlier. Only with
# confirmed playout: without marks the word is released at the chunk's time either way
_WORD_AFTER = 1e-7


@dataclass(slots=True)
class _Context:
    """Playout bookkeeping of one TTS context."""

    audio: float = 0.0  # seconds of the context's audio scheduled so far
    # (context offset, playout time) wherever the context's audio restarts after a gap
    segments: list[tuple[float, float]] = field(default_factory=list)
    pending: list[tuple[float, int, TTSTextFrame]] = field(default_factory=list)  # pts beyond audio
    estimated: list[TTSTextFrame] = field(default_factory=list)  # pts=None
    stopped: bool = False

    def time_of(self, pts: float) -> float:
        offset, start = self.segments[0]
        for off, t in self.segments:
            if off > pts:
                break
            offset, start = off, t
        return start + max(pts - offset, 0.0)

    def estimate(self, total_audio: float) -> list[tuple[float, TTSTextFrame]]:
        """Context offsets for ``pts=None`` words spread over ``total_audio`` by character count."""
        words = self.estimated
        chars = sum(len(w.text.strip()) + 1 for w in words)
        out: list[tuple[float, TTSTextFrame]] = []
        position = 0
        for w in words:
            out.append((total_audio * position / chars if chars else 0.0, w))
            position += len(w.text.strip()) + 1
        return out


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class OutputTransport(FrameProcessor):
    """Base output transport. Subclass and override :meth:`write_audio` and :meth:`clear`.

    Intake runs inline in the pusher's task (it only files audio and words by playout time); the
    player task is the one writer, so the first chunk of an answer costs a single task wake-up.
    """

    def __init__(
        self,
        *,
        chunk_seconds: float = 0.02,
        stop_gap: float = 0.35,
        send_ahead: float = 0.0,
        confirmed_playout: bool = False,
        push_audio_downstream: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if chunk_seconds <= 0:
            raise ValueError("chunk_seconds must be positive")
        if stop_gap < 0:
            raise ValueError("stop_gap must be >= 0")
        if not 0.0 <= send_ahead <= 1.0:
            raise ValueError("send_ahead must be between 0 and 1 second")
        #: audio is handed to write_audio this long before it plays (for a client with a jitter buffer:
        #: a server stall shorter than this is not heard); words, frames and speaking state still follow
        #: the real playout time, and clear() drops what the client holds
        self.send_ahead = send_ahead
        #: with ``confirmed_playout`` the client tells the subclass when audio has played (marks): then a
        #: word or queued frame reaches :meth:`playout_reached` when the audio before it is *written*,
        #: send_ahead early, so the subclass can put its mark at exactly that point of the stream and
        #: release the frame on the echo; without it, words follow the playout clock
        self.confirmed_playout = confirmed_playout
        self._mark_lead = send_ahead if confirmed_playout else 0.0
        self._word_after = _WORD_AFTER if confirmed_playout else 0.0
        #: pacing quality: chunks in the middle of a sentence (TTS context) written after their playout
        #: time (an audible gap for a client with no more buffer than the send-ahead), and the worst
        #: such delay in seconds. The first chunk after silence cannot be late: it sets the time.
        self.late_writes = 0
        self.max_late = 0.0
        #: sentences that were queued to follow the previous one straight on, but whose first chunk was
        #: written after that one had finished playing (a longer pause between sentences), and the worst
        self.late_joins = 0
        self.max_late_join = 0.0
        #: times a TTS context's audio ran out before the rest of it arrived (the producer fell behind
        #: real time: an audible gap mid-sentence that pacing cannot prevent)
        self.starved = 0
        self.chunk_seconds = chunk_seconds
        self.stop_gap = stop_gap
        self.push_audio_downstream = push_audio_downstream
        self.speaking = False
        self._heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count()
        self._tail = 0.0  # playout time at which the audio scheduled so far ends
        self._last_audio_end = 0.0
        self._contexts: OrderedDict[str | None, _Context] = OrderedDict()
        self._dead: OrderedDict[str, None] = OrderedDict()  # contexts closed by an interruption
        self._rechunker: Rechunker | None = None
        self._format: tuple[int, int] = (0, 0)
        self._chunk_context: str | None = None
        self._tail_context: str | None = None  # the context whose audio ends at _tail
        self._stream_delay = 0.0  # how late the current stream's first chunk was written
        self._player_wakeup: asyncio.Future[None] | None = None
        self._player: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()

    # ----------------------------------------------------------------------------- the sink seam

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        """Send one chunk to the client; called ``send_ahead`` before it is due (``chunk.pts``)."""

    async def clear(self) -> None:
        """The user interrupted: tell the client to drop any audio it has buffered. Override this."""

    async def flush_writes(self) -> None:
        """Everything due has been written and the player is about to wait (for the next chunk's time,
        or for more audio). A sink that batches the chunks of a burst (the send-ahead at the start of a
        reply, the catch-up after a stall) into fewer messages sends them now. Override this."""

    async def on_word(self, frame: TTSTextFrame) -> None:
        """A word has just become audible (before it is sent downstream). Override for captions."""

    async def playout_reached(self, frame: Frame, direction: FrameDirection) -> None:
        """Playout has reached ``frame`` (a word, or a frame queued behind audio): pass it on.

        With ``confirmed_playout``, called instead as soon as the audio before ``frame`` has been
        written: override to hold frames until the client confirms it played that audio (Twilio
        ``mark`` echoes), then call :meth:`release`; frames never released were never heard.
        """
        await self.release(frame, direction)

    async def release(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        """Send a played frame on; a word is marked heard (uninterruptible) first."""
        if isinstance(frame, TTSTextFrame):
            frame.interruptible = False  # it has been heard: a fact now, like a transcription
            await self.on_word(frame)
        await self.push(frame, direction)

    # --------------------------------------------------------------------------------- lifecycle

    async def on_start(self, frame: StartFrame) -> None:
        self._player = self.create_task(self._play(), name=f"{self.name}:player")

    async def on_end(self, frame: EndFrame) -> None:
        # play everything out, then stop
        self._flush_chunk()
        for ctx in self._contexts.values():
            self._settle_context(ctx)
        self._idle.clear()
        self._wake()
        if self._player is not None and not self._player.done():
            await self._idle.wait()
        if self.speaking:
            await self._set_speaking(False)
        if self._player is not None:
            self._player.cancel()

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        t = now() + _EPS
        # every user turn start interrupts; the client only needs telling if the bot was audible
        active = self.speaking or bool(self._heap) or self._tail > t
        # 1. whatever playout has reached was heard: release it before the interruption travels on
        due: list[tuple[float, int, int, Any]] = []
        while self._heap and self._heap[0][0] <= t:
            due.append(heapq.heappop(self._heap))
        for ctx in self._contexts.values():
            if ctx.estimated and ctx.segments:
                for offset, word in ctx.estimate(ctx.audio):
                    when = ctx.time_of(offset) - self._mark_lead
                    if when <= t:
                        due.append((when, next(self._seq), _WORD, word))
                ctx.estimated.clear()
        due.sort(key=lambda e: (e[0], e[1]))
        keep = [e for e in self._heap if e[2] == _FRAME and not e[3][0].interruptible]
        self._heap.clear()
        for _, _, kind, payload in due:
            if kind == _WORD:
                await self.playout_reached(payload, DOWNSTREAM)
            elif kind == _FRAME:
                await self.playout_reached(payload[0], payload[1])
        # 2. uninterruptible frames (function-call results, ...) no longer wait for audio
        for _, _, _, (f, d) in sorted(keep, key=lambda e: (e[0], e[1])):
            await self.push(f, d)
        # 3. drop all queued audio and words; stale words of these contexts are refused from now on
        for cid in self._contexts:
            if cid is not None:
                self._dead[cid] = None
        while len(self._dead) > _MAX_CLOSED_CONTEXTS:
            self._dead.popitem(last=False)
        self._contexts.clear()
        if self._rechunker is not None:
            self._rechunker.clear()
        self._tail = t
        self._last_audio_end = min(self._last_audio_end, t)
        if self.speaking:
            await self._set_speaking(False)
        self._wake()
        if active:
            await self.clear()

    # ------------------------------------------------------------------------------------ intake

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == UPSTREAM or frame.is_system:
            await self.push(frame, direction)
        elif isinstance(frame, OutputAudioRawFrame):
            self._take_audio(frame)
        elif isinstance(frame, TTSTextFrame):
            self._take_word(frame)
        else:
            self._take_frame(frame, direction)
        self._wake()

    def _ctx_for(self, cid: str | None) -> _Context | None:
        if cid is not None and cid in self._dead:
            return None
        ctx = self._contexts.get(cid)
        if ctx is None:
            ctx = self._contexts[cid] = _Context()
            while len(self._contexts) > _MAX_CLOSED_CONTEXTS:
                old_id, old = next(iter(self._contexts.items()))
                if not old.stopped:
                    break
                del self._contexts[old_id]
        return ctx

    def _take_audio(self, frame: OutputAudioRawFrame) -> None:
        cid = frame.context_id if isinstance(frame, TTSAudioRawFrame) else None
        if cid is not None and cid in self._dead:
            return
        fmt = (frame.sample_rate, frame.num_channels)
        if self._rechunker is None or fmt != self._format or cid != self._chunk_context:
            self._flush_chunk()
            self._format = fmt
            self._chunk_context = cid
            self._rechunker = Rechunker.for_duration(
                self.chunk_seconds, frame.sample_rate, frame.num_channels
            )
        for chunk in self._rechunker.push(frame.audio):
            self._schedule_chunk(chunk)

    def _flush_chunk(self) -> None:
        if self._rechunker is not None:
            rest = self._rechunker.flush()
            if rest:
                self._schedule_chunk(rest)

    def _schedule_chunk(self, audio: bytes) -> None:
        sample_rate, channels = self._format
        t = now()
        joins = self._tail > t
        start = self._tail if joins else t
        follows = _FRESH if not joins else _MID if self._tail_context == self._chunk_context else _JOIN
        duration = len(audio) / (2 * sample_rate * channels)
        self._tail = start + duration
        self._tail_context = self._chunk_context
        # the frame is built when it is written: intake of a long sentence stays a few slices
        entry = (audio, start, duration, follows, self._format)
        heapq.heappush(self._heap, (start - self.send_ahead, next(self._seq), _AUDIO, entry))
        ctx = self._ctx_for(self._chunk_context)
        if ctx is None:
            return
        if not ctx.segments or abs(ctx.time_of(ctx.audio) - start) > 1e-9:
            if ctx.segments:
                self.starved += 1
            ctx.segments.append((ctx.audio, start))
        ctx.audio += duration
        pending = ctx.pending
        while pending and pending[0][0] < ctx.audio:
            pts, _, word = heapq.heappop(pending)
            self._schedule_word(ctx.time_of(pts), word)

    def _take_word(self, frame: TTSTextFrame) -> None:
        ctx = self._ctx_for(frame.context_id)
        if ctx is None:
            return  # a late word of an interrupted context: never heard, never released
        if frame.pts is None:
            ctx.estimated.append(frame)
        elif frame.pts < ctx.audio:
            self._schedule_word(ctx.time_of(frame.pts), frame)
        else:
            heapq.heappush(ctx.pending, (frame.pts, next(self._seq), frame))

    def _schedule_word(self, when: float, frame: TTSTextFrame) -> None:
        key = when - self._mark_lead + self._word_after
        heapq.heappush(self._heap, (key, next(self._seq), _WORD, frame))

    def _take_frame(self, frame: Frame, direction: FrameDirection) -> None:
        self._flush_chunk()
        if isinstance(frame, TTSStartedFrame):
            if frame.context_id is not None and frame.context_id in self._dead:
                return
            self._contexts.pop(frame.context_id, None)
            self._ctx_for(frame.context_id)
        elif isinstance(frame, TTSStoppedFrame):
            if frame.context_id is not None and frame.context_id in self._dead:
                return
            ctx = self._contexts.get(frame.context_id)
            if ctx is not None:
                self._settle_context(ctx)
        start = max(now(), self._tail) - self._mark_lead
        heapq.heappush(self._heap, (start, next(self._seq), _FRAME, (frame, direction)))

    def _settle_context(self, ctx: _Context) -> None:
        """The context's audio is complete: place words that are still waiting."""
        ctx.stopped = True
        end = max(now(), self._tail) if not ctx.segments else ctx.time_of(ctx.audio)
        if ctx.estimated:
            for offset, word in ctx.estimate(ctx.audio):
                self._schedule_word(ctx.time_of(offset) if ctx.segments else end, word)
            ctx.estimated.clear()
        while ctx.pending:  # timestamps beyond the audio: heard when the audio ends
            _, _, word = heapq.heappop(ctx.pending)
            self._schedule_word(end, word)

    # ------------------------------------------------------------------------------------ player

    def _wake(self) -> None:
        w = self._player_wakeup
        if w is not None and not w.done():
            w.set_result(None)

    async def _wait(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._player_wakeup = fut = loop.create_future()
        handle = None
        if deadline is not None:
            handle = loop.call_at(deadline, _resolve, fut)
        try:
            await fut
        finally:
            self._player_wakeup = None
            if handle is not None:
                handle.cancel()

    async def _play(self) -> None:
        heap = self._heap
        while True:
            t = now() + _EPS
            if heap and heap[0][0] <= t:
                _, _, kind, payload = heapq.heappop(heap)
                if kind == _AUDIO:
                    if not self.speaking:
                        await self._set_speaking(True)
                        t = now() + _EPS  # announcing it ran other processors
                    audio, pts, duration, follows, (rate, channels) = payload
                    self._last_audio_end = pts + duration
                    late = t - _EPS - pts
                    if follows == _FRESH:
                        # the client starts playing a stream when its first chunk arrives: a late
                        # start delays the whole stream, it opens no gap
                        self._stream_delay = max(late, 0.0)
                        late = 0.0
                    else:
                        late -= self._stream_delay
                    if late > 0.0 and follows == _MID:
                        self.late_writes += 1
                        self.max_late = max(self.max_late, late)
                    elif late > 0.0 and follows == _JOIN:
                        self.late_joins += 1
                        self.max_late_join = max(self.max_late_join, late)
                    chunk = OutputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=channels, pts=pts)
                    await self.write_audio(chunk)
                    if self.push_audio_downstream:
                        await self.push(chunk)
                elif kind == _WORD:
                    await self.playout_reached(payload, DOWNSTREAM)
                else:
                    await self.playout_reached(payload[0], payload[1])
                continue
            deadline = heap[0][0] if heap else None
            if self.speaking:
                stop_at = self._last_audio_end + self.stop_gap
                if t >= stop_at and not (heap and heap[0][2] == _AUDIO and heap[0][0] <= stop_at):
                    await self._set_speaking(False)
                    continue
                deadline = stop_at if deadline is None else min(deadline, stop_at)
            await self.flush_writes()
            if not heap and (not self.speaking or t >= self._last_audio_end):
                self._idle.set()
            await self._wait(deadline)

    async def _set_speaking(self, speaking: bool) -> None:
        self.speaking = speaking
        cls = BotStartedSpeakingFrame if speaking else BotStoppedSpeakingFrame
        await self.push(cls(), DOWNSTREAM)
        await self.push(cls(), UPSTREAM)
