"""Fail over between providers of one kind without rewiring the pipeline.

>>> # llm = FallbackService([OpenAILLMService(...), AnthropicLLMService(...)], first_byte_timeout=4.0)

Every wrapped service is started, ended and interrupted; requests go to the *active* one only. When it
reports an error, or sends nothing within ``first_byte_timeout`` of a request, the wrapper marks it down,
makes the next one active and sends the pending request again. A service that went down is tried again
after ``retry_after`` seconds, so the preferred provider comes back when it recovers. Errors are reported
upstream as non-fatal while another provider is up.

A failure at any point of a response fails over, before or after the first token:

- LLM: the words the primary already streamed stay (TTS speaks them and the context keeps them, as an
  interrupted assistant message); the wrapper closes the primary's response itself and the backup
  *restarts* the reply from the context as it was when the turn was asked (a snapshot, so the result
  does not depend on how fast the partial answer was committed).
- TTS: the backup speaks the sentence that failed and the rest of the response; sentences the primary
  already spoke are not repeated.

When no provider is left and ``apology`` is set, the caller hears it instead of silence (a fatal
failure then ends the session gracefully, after the apology).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    EndTaskFrame,
    ErrorFrame,
    Frame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    now,
)
from voiceframe.pipeline import ParallelPipeline
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection
from voiceframe.services.apology import apology_frames
from voiceframe.services.base import AIService, ServiceError

_REQUESTS: dict[str, tuple[type[Frame], ...]] = {
    "llm": (LLMContextFrame,),
    "tts": (TTSSpeakFrame, TextFrame),
    "stt": (),
}
_RESPONSES: dict[str, tuple[type[Frame], ...]] = {
    "llm": (LLMTextFrame, FunctionCallInProgressFrame),
    "tts": (TTSAudioRawFrame,),
    "stt": (TranscriptionFrame,),
}


#: a standby STT's transcript this recent belongs to the utterance the failed STT lost
HELD_TRANSCRIPT_SECONDS = 10.0


def _open_response(frame: Frame) -> str | None:
    """The id of the response ``frame`` opens (LLM response or TTS utterance), else None."""
    if isinstance(frame, LLMFullResponseStartFrame):
        return frame.response_id or ""
    if isinstance(frame, TTSStartedFrame):
        return frame.context_id or ""
    return None


def _response_id(frame: Frame) -> str:
    if isinstance(frame, LLMFullResponseEndFrame):
        return frame.response_id or ""
    if isinstance(frame, TTSStoppedFrame):
        return frame.context_id or ""
    return ""


def _closes_response(frame: Frame) -> bool:
    return isinstance(frame, LLMFullResponseEndFrame | TTSStoppedFrame)


def _close_frame(start: Frame) -> Frame:
    if isinstance(start, TTSStartedFrame):
        return TTSStoppedFrame(context_id=start.context_id)
    assert isinstance(start, LLMFullResponseStartFrame)
    return LLMFullResponseEndFrame(response_id=start.response_id)


class FallbackService(ParallelPipeline):
    """Routes to the first healthy service of a list; moves on when it fails, back when it recovers."""

    def __init__(
        self,
        services: Sequence[AIService],
        *,
        first_byte_timeout: float | None = 10.0,
        retry_after: float = 30.0,
        apology: str | None = None,
        name: str | None = None,
    ) -> None:
        if not services:
            raise ValueError("FallbackService needs at least one service")
        kinds = {s.kind for s in services}
        if len(kinds) != 1:
            raise ValueError(f"FallbackService services must be of one kind, got {sorted(kinds)}")
        super().__init__(
            *([s] for s in services), name=name or f"Fallback({'|'.join(s.name for s in services)})"
        )
        self.services = list(services)
        self.kind = services[0].kind
        self.first_byte_timeout = first_byte_timeout
        self.retry_after = retry_after
        self.active = 0
        self._down_since: dict[int, float] = {}
        self._request: Frame | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.switches: list[tuple[float, str, str]] = []
        #: said when no provider is left (None: the error alone); the services' own apologies are
        #: off, or the caller would hear one per provider
        self.apology = apology
        for service in self.services:
            service.apology = None
        #: the response (LLM answer or TTS utterance) a branch has open downstream: (branch, start frame)
        self._open: tuple[int, Frame] | None = None
        self._closed_here: set[str] = set()  # responses closed by the wrapper after a failure
        self._held: dict[int, tuple[float, TranscriptionFrame]] = {}  # last transcript per standby STT

    def _healthy(self) -> int | None:
        """The preferred service that is up (or due for a retry); None if all are down."""
        t = now()
        for i in range(len(self.services)):
            since = self._down_since.get(i)
            if since is None or t - since >= self.retry_after:
                return i
        return None

    def _choose(self) -> int:
        healthy = self._healthy()
        if healthy is not None:
            return healthy
        return min(self._down_since, key=lambda i: self._down_since[i])  # all down: the oldest failure

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        if frame.role or frame.is_system:
            if isinstance(frame, InterruptionFrame):
                # the turn in flight is abandoned: nothing to replay, no response left open
                self._disarm_timer()
                self._request = None
                self._open = None
            await super()._receive(frame, direction)  # lifecycle and system frames: every service
            return
        if frame.epoch < 0:
            self._stamp(frame)
        if frame.interruptible and frame.epoch < self._epoch:
            self.dropped_stale += 1
            return
        if direction == DOWNSTREAM and isinstance(frame, _REQUESTS[self.kind]):
            choice = self._choose()
            if choice != self.active:
                self._switch(choice, "preferred provider retried")
            self._request = _snapshot(frame)
            self._arm_timer()
        target = self._branches[self.active]
        self._pending_entry(frame)
        if direction == DOWNSTREAM:
            await target.head()._receive(frame, direction)
        else:
            await target.tail()._receive(frame, direction)

    def _pending_entry(self, frame: Frame) -> None:
        # only the active branch sees it: it leaves when that branch lets it out
        self._pending[frame] = 1 << self.active

    def _arm_timer(self) -> None:
        self._disarm_timer()
        if self.first_byte_timeout is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.first_byte_timeout, self._on_timeout)

    def _disarm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        failed = self.active
        self.create_task(self._fail_over(failed, "no first byte within the timeout"))

    def _switch(self, index: int, why: str) -> None:
        self.switches.append((now(), self.services[self.active].name, self.services[index].name))
        self.active = index

    async def _fail_over(self, failed: int, why: str, error: ErrorFrame | None = None) -> None:
        if failed != self.active:
            return
        self._down_since[failed] = now()
        nxt = self._healthy()
        fatal = error is not None and isinstance(error.exception, ServiceError) and error.exception.fatal
        message = f"{self.name}: {self.services[failed].name} failed ({why})"
        if nxt is not None:
            self._switch(nxt, why)
            message += f"; switched to {self.services[nxt].name}"
        else:
            message += "; no provider left"
        if error is not None:
            message += f": {error.error}"
        replay = self._replay(failed)
        exception = error.exception if error is not None else None
        if nxt is None and self.apology:
            # the caller hears the apology instead of silence; a fatal failure ends the session after it
            await self.push(ErrorFrame(error=message, processor=self.name, exception=exception), UPSTREAM)
            await self._close_open_response()
            for frame in apology_frames(self.kind, self.apology):
                await super()._branch_output(self.active, frame, DOWNSTREAM)
            self._request = None
            if fatal:
                await self.push(EndTaskFrame(reason=message), UPSTREAM)
            return
        await self.push(
            ErrorFrame(error=message, fatal=nxt is None, processor=self.name, exception=exception), UPSTREAM
        )
        # what the failed provider already said stays said: its response is closed here, and whatever
        # it sends later is dropped
        await self._close_open_response()
        if nxt is not None and replay is not None:
            self._arm_timer()
            self._pending_entry(replay)
            await self._branches[self.active].head()._receive(replay, DOWNSTREAM)
        elif nxt is not None and self.kind == "stt":
            # audio reaches every STT (it is a system frame): the next one heard the same utterance.
            # Its transcript, if already made while it stood by, goes out now; else it follows.
            held = self._held.pop(nxt, None)
            if held is not None and now() - held[0] <= HELD_TRANSCRIPT_SECONDS:
                await super()._branch_output(nxt, held[1], DOWNSTREAM)

    def _replay(self, failed: int) -> Frame | None:
        """What the next provider is sent: the turn's request, or for TTS the words not yet spoken."""
        take = getattr(self.services[failed], "take_unspoken", None)
        if self.kind == "tts" and take is not None:
            text = take()
            if not text:
                return None
            frame = TTSSpeakFrame(text=text)
            frame.epoch = self._epoch  # the words of the current epoch: an interruption drops them
            return frame
        return _snapshot(self._request) if self._request is not None else None

    async def _close_open_response(self) -> None:
        if self._open is not None:
            _, start = self._open
            self._open = None
            self._closed_here.add(_open_response(start) or "")
            await super()._branch_output(self.active, _close_frame(start), DOWNSTREAM)

    async def _branch_output(self, branch: int, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, ErrorFrame) and direction == UPSTREAM and not frame.role:
            if branch == self.active:
                self._disarm_timer()
                await self._fail_over(branch, "error", frame)
            return
        if branch != self.active and not frame.role and not frame.is_system:
            if isinstance(frame, TranscriptionFrame) and direction == DOWNSTREAM:
                self._held[branch] = (now(), frame)  # a standby STT's transcript, for a failover
            return  # a late answer from a provider we moved away from, or a standby's
        if direction == DOWNSTREAM and _closes_response(frame) and _response_id(frame) in self._closed_here:
            self._closed_here.discard(_response_id(frame))
            return  # the failed provider's own end of a response this wrapper already closed
        if direction == DOWNSTREAM and branch == self.active:
            if _open_response(frame) is not None:
                self._open = (branch, frame)
            elif _closes_response(frame):
                self._open = None
                if isinstance(frame, LLMFullResponseEndFrame):
                    self._request = None  # answered in full: nothing left to replay
        if branch == self.active and isinstance(frame, _RESPONSES[self.kind]):
            self._disarm_timer()
            if self.kind != "llm":
                self._request = None
        await super()._branch_output(branch, frame, direction)


def _snapshot(frame: Frame) -> Frame:
    """A request as it is now: an LLM context is copied, so a replay sees the turn as it was asked."""
    if isinstance(frame, LLMContextFrame) and frame.context is not None:
        c = frame.context
        copy = LLMContextFrame(context=LLMContext(c.copy_messages(), c.tools, c.tool_choice))
        copy.epoch = frame.epoch  # the turn's epoch: an interruption still drops it
        return copy
    return frame
