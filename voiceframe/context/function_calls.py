"""Function calling: run the tools an LLM asks for and keep request/response pairs in the context.

Place :class:`FunctionCallManager` right after the LLM (it runs inline)::

    calls = FunctionCallManager(context)
    calls.register_function("get_weather", get_weather, timeout=5.0)
    Pipeline([user_agg, llm, calls, tts, transport.output(), assistant_agg])

The LLM service pushes ``LLMFullResponseEndFrame`` and then one ``FunctionCallInProgressFrame`` per
tool call of the response. The manager:

* writes the request and an ``IN_PROGRESS`` answer into the context at once (in the response's
  assistant message, so heard text and tool calls stay one message) and runs the handler as a task;
* replaces the placeholder with the result and asks the LLM to run again, once, after the last call
  of the response (parallel calls); a timeout or an exception becomes an error result the LLM can
  talk about;
* on an interruption cancels the running calls registered with ``cancel_on_interruption=True`` (their
  answer becomes ``CANCELLED``); the others (async calls) go on, their result is inserted when it
  comes and the LLM runs again at a safe moment: not while it is generating, not while the bot or
  the user is speaking;
* never executes a tool call of a generation that was interrupted (the request's epoch is older than
  the interruption), and with ``run_after_speech=True`` waits until the words spoken before the call
  have been played: an ``end_call`` tool cannot hang up on a caller who barged in;
* speaks ``filler`` before a call, or only if it is still running after ``filler_after`` seconds.

The manager writes the context directly: results never travel through the TTS or transport queues,
so no interruption can drop them and no audio queue delays the next answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voiceframe.context.assistant_aggregator import response_key
from voiceframe.context.llm_context import CANCELLED, LLMContext, ToolCallRequest
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    now,
)
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor

__all__ = ["FunctionCallManager", "FunctionCallParams", "FunctionSpec"]


@dataclass(slots=True)
class FunctionCallParams:
    """What a handler gets."""

    function_name: str
    tool_call_id: str
    arguments: dict[str, Any]
    context: LLMContext


Handler = Callable[[FunctionCallParams], Awaitable[Any]]


@dataclass(slots=True)
class FunctionSpec:
    """A registered function and how it behaves around interruptions."""

    name: str
    handler: Handler
    cancel_on_interruption: bool = True
    timeout: float | None = None
    filler: str | None = None
    filler_after: float | None = None
    run_after_speech: bool = False


@dataclass(slots=True, eq=False)
class _Call:
    request: ToolCallRequest
    spec: FunctionSpec | None
    batch: _Batch
    task: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    done: bool = False


@dataclass(slots=True, eq=False)
class _Batch:
    """The tool calls of one LLM response."""

    key: str
    epoch: int
    calls: list[_Call] = field(default_factory=list)
    interrupted: bool = False


class FunctionCallManager(FrameProcessor):
    """Runs tool calls and keeps their request/response pairs in ``context`` (inline)."""

    def __init__(self, context: LLMContext, *, speech_timeout: float = 5.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.llm_context = context
        #: how long to wait for the bot to start playing a response before assuming it has no audio
        self.speech_timeout = speech_timeout
        self.functions: dict[str, FunctionSpec] = {}
        self._key: str | None = None  # response the next tool calls belong to
        self._batch: _Batch | None = None
        self._running: dict[str, _Call] = {}
        self._deferred: list[_Call] = []
        self._generating = False
        self._response_text = False
        self._bot_speaking = False
        self._user_speaking = False
        self._awaiting_speech = False
        self._speech_timer: asyncio.TimerHandle | None = None
        self._rerun_since: float | None = None  # results inserted since, awaiting a safe moment

    # ---------------------------------------------------------------------------------- registry

    def register_function(
        self,
        name: str,
        handler: Handler,
        *,
        cancel_on_interruption: bool = True,
        timeout: float | None = None,
        filler: str | None = None,
        filler_after: float | None = None,
        run_after_speech: bool = False,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Register ``handler`` for tool ``name``.

        ``cancel_on_interruption=False`` makes an async call: it survives interruptions and its result
        is inserted when it comes. ``timeout`` turns a slow call into an error result. ``filler`` is
        spoken before the call, or after ``filler_after`` seconds if it is still running.
        ``run_after_speech`` runs the call only once the words before it have been played (for calls
        that must not happen if the user interrupts, like hanging up). With ``description`` (and
        ``parameters``, a JSON schema) the tool is also added to the context's tools.
        """
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        self.functions[name] = FunctionSpec(
            name, handler, cancel_on_interruption, timeout, filler, filler_after, run_after_speech
        )
        if description is not None:
            self.llm_context.tools.append(
                {
                    "type": "function",
                    "function": {
                        "name": name,
                        "description": description,
                        "parameters": parameters or {"type": "object", "properties": {}},
                    },
                }
            )

    @property
    def running(self) -> list[str]:
        """Tool call ids still running."""
        return list(self._running)

    # ------------------------------------------------------------------------------------ frames

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == DOWNSTREAM:
            if isinstance(frame, FunctionCallInProgressFrame):
                await self.push(frame, direction)
                # upstream too: the turn controller mutes the user during a call if configured to
                await self.push(
                    FunctionCallInProgressFrame(
                        tool_call_id=frame.tool_call_id,
                        function_name=frame.function_name,
                        arguments=frame.arguments,
                        cancel_on_interruption=frame.cancel_on_interruption,
                    ),
                    UPSTREAM,
                )
                await self._start(frame)
                return
            if isinstance(frame, LLMTextFrame):
                self._response_text = True
            elif isinstance(frame, LLMFullResponseStartFrame):
                self._on_response_start(frame)
            elif isinstance(frame, LLMFullResponseEndFrame):
                self._generating = False
                self._key = response_key(frame)
                self._batch = None
                if self._response_text:
                    self._expect_speech()
            elif isinstance(frame, UserStartedSpeakingFrame):
                self._user_speaking = True
            elif isinstance(frame, UserStoppedSpeakingFrame):
                self._user_speaking = False
                await self.push(frame, direction)
                await self._maybe_rerun()
                return
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            await self.push(frame, direction)
            await self._speech_done()
            return
        await self.push(frame, direction)

    def _on_response_start(self, frame: LLMFullResponseStartFrame) -> None:
        self._generating = True
        self._response_text = False
        self._key = response_key(frame)
        self._batch = None
        if self._rerun_since is not None and frame.created >= self._rerun_since:
            self._rerun_since = None  # this response already sees the inserted results

    # ------------------------------------------------------------------------------ speech state

    def _expect_speech(self) -> None:
        self._awaiting_speech = True
        self._cancel_speech_timer()
        loop = asyncio.get_running_loop()
        self._speech_timer = loop.call_later(self.speech_timeout, self._speech_timed_out)

    def _speech_timed_out(self) -> None:
        self._speech_timer = None
        if self._awaiting_speech and not self._bot_speaking:
            self.create_task(self._speech_done(), name=f"{self.name}:speech-timeout")

    def _cancel_speech_timer(self) -> None:
        if self._speech_timer is not None:
            self._speech_timer.cancel()
            self._speech_timer = None

    async def _speech_done(self) -> None:
        """The bot finished speaking what it said before its tool calls."""
        self._awaiting_speech = False
        self._cancel_speech_timer()
        deferred, self._deferred = self._deferred, []
        for call in deferred:
            if call.batch.interrupted:
                continue
            self._launch(call)
        await self._maybe_rerun()

    # ------------------------------------------------------------------------------------- calls

    async def _start(self, frame: FunctionCallInProgressFrame) -> None:
        if frame.epoch < self.epoch:
            return  # requested by a generation that was interrupted: never executed
        key = self._key or f"calls#{frame.id}"
        batch = self._batch
        if batch is None or batch.key != key:
            batch = self._batch = _Batch(key, self.epoch)
        request = ToolCallRequest(frame.tool_call_id, frame.function_name, dict(frame.arguments))
        spec = self.functions.get(frame.function_name)
        call = _Call(request, spec, batch)
        batch.calls.append(call)
        self.llm_context.add_tool_calls(key, [request])
        self._running[request.id] = call
        if spec is not None and spec.run_after_speech and self._awaiting_speech:
            self._deferred.append(call)
            return
        if spec is not None and spec.filler and spec.filler_after is None:
            await self.push(TTSSpeakFrame(text=spec.filler))
        self._launch(call)

    def _launch(self, call: _Call) -> None:
        call.task = self.create_task(self._execute(call), name=f"{self.name}:{call.request.name}")
        spec = call.spec
        if spec is not None and spec.filler and spec.filler_after is not None:
            call.watchdog = self.create_task(self._filler_later(call, spec.filler, spec.filler_after))

    async def _filler_later(self, call: _Call, text: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if not call.done:
            await self.push(TTSSpeakFrame(text=text))

    async def _execute(self, call: _Call) -> None:
        request, spec = call.request, call.spec
        result: Any
        if spec is None:
            result = {"error": f"unknown function {request.name!r}"}
        else:
            params = FunctionCallParams(request.name, request.id, request.arguments, self.llm_context)
            try:
                if spec.timeout is not None:
                    async with asyncio.timeout(spec.timeout):
                        result = await spec.handler(params)
                else:
                    result = await spec.handler(params)
            except TimeoutError:
                result = {"error": f"{request.name} did not finish within {spec.timeout:g} seconds"}
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result = {"error": f"{request.name} failed: {type(exc).__name__}: {exc}"}
        await self._finish(call, result)

    async def _finish(self, call: _Call, result: Any) -> None:
        call.done = True
        if call.watchdog is not None:
            call.watchdog.cancel()
        self._running.pop(call.request.id, None)
        self.llm_context.set_tool_result(call.request.id, result)
        request = call.request
        for direction in (DOWNSTREAM, UPSTREAM):  # upstream: it ends the turn controller's mute
            await self.push(
                FunctionCallResultFrame(
                    tool_call_id=request.id,
                    function_name=request.name,
                    arguments=request.arguments,
                    result=result,
                ),
                direction,
            )
        batch = call.batch
        if any(not c.done for c in batch.calls):
            return  # parallel calls: the LLM runs once, after the last result
        if not batch.interrupted and batch.epoch == self.epoch:
            await self._run_llm()
        else:
            self._rerun_since = self._rerun_since if self._rerun_since is not None else now()
            await self._maybe_rerun()

    # ------------------------------------------------------------------------------ interruptions

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self._generating = False
        self._awaiting_speech = False
        self._cancel_speech_timer()
        cancelled: list[_Call] = []
        for call in list(self._running.values()):
            call.batch.interrupted = True
            if call.spec is not None and not call.spec.cancel_on_interruption and call.task is not None:
                if call.watchdog is not None:
                    call.watchdog.cancel()
                continue  # an async call goes on; its result is inserted later
            cancelled.append(call)
        self._deferred.clear()
        for call in cancelled:
            call.done = True
            self._running.pop(call.request.id, None)
            for task in (call.task, call.watchdog):
                if task is not None:
                    task.cancel()
            self.llm_context.set_tool_result(call.request.id, CANCELLED)
        for call in cancelled:
            for direction in (DOWNSTREAM, UPSTREAM):
                await self.push(
                    FunctionCallCancelFrame(tool_call_id=call.request.id, function_name=call.request.name),
                    direction,
                )

    # --------------------------------------------------------------------------------- re-running

    def _safe(self) -> bool:
        return not (self._generating or self._bot_speaking or self._user_speaking or self._awaiting_speech)

    async def _maybe_rerun(self) -> None:
        if self._rerun_since is not None and self._safe():
            self._rerun_since = None
            await self._run_llm()

    async def _run_llm(self) -> None:
        await self.push(LLMContextFrame(context=self.llm_context), UPSTREAM)

    async def cleanup(self) -> None:
        self._cancel_speech_timer()
        await super().cleanup()
