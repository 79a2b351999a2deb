"""Build the standard voice-agent pipeline from a config and a transport.

::

    transport.input -> VAD -> STT -> turn controller -> user aggregator -> LLM -> function calls
        -> TTS -> transport.output -> assistant aggregator

Reading and checking the config is :mod:`voiceframe.config`'s job (its sections, keys and their meaning:
``voiceframe.config.SECTION_MODELS``, ``docs/configuration.md``); pass a config that
:func:`voiceframe.config.load_valid_config` returned, so a mistake is reported before any audio flows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from voiceframe.config import BotConfig, ServiceSpec, TurnSection, VADSection
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.function_calls import FunctionCallManager
from voiceframe.context.llm_context import LLMContext
from voiceframe.context.user_aggregator import UserAggregator
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameProcessor
from voiceframe.transports.input import Transport


@dataclass
class Bot:
    """The pieces of a built bot, for the caller to run, inspect and test."""

    pipeline: Pipeline
    context: LLMContext
    functions: FunctionCallManager
    stt: FrameProcessor
    llm: FrameProcessor
    tts: FrameProcessor
    turns: FrameProcessor
    greeting: str | None


def build_service(spec: ServiceSpec) -> Any:
    """Create a checked service section's provider; with backups, a FallbackService in front of them."""
    return spec.build()


def _vad(section: VADSection) -> FrameProcessor:
    from voiceframe.audio.vad.processor import VADProcessor

    if section.batch:
        from voiceframe.audio.vad.batcher import VADBatcher

        return VADProcessor(section.params(), batcher=VADBatcher.shared())
    return VADProcessor(section.params())


def _turns(section: TurnSection, echo: Any = None) -> FrameProcessor:
    from voiceframe.turns.controller import UserTurnController
    from voiceframe.turns.strategies import (
        CombinedStrategy,
        EndOfTurnStrategy,
        SmartTurnStrategy,
        TranscriptStrategy,
        VADSilenceStrategy,
    )

    strategy: EndOfTurnStrategy
    if section.strategy == "smart_turn":
        strategy = SmartTurnStrategy(threshold=section.threshold, max_wait=section.max_wait)
    elif section.strategy == "combined":
        strategy = CombinedStrategy(threshold=section.threshold, max_wait=section.max_wait)
    elif section.strategy == "transcript":
        strategy = TranscriptStrategy(max_wait=section.max_wait)
    else:
        strategy = VADSilenceStrategy()
    return UserTurnController(
        strategy,
        min_words=section.min_words,
        backchannels=tuple(section.backchannels),
        late_final_secs=section.late_final_secs,
        echo=echo,
    )


Handler = Callable[..., Awaitable[Any]]


def build_bot(
    config: BotConfig,
    transport: Transport,
    *,
    tools: dict[str, tuple[Handler, dict[str, Any]]] | None = None,
) -> Bot:
    """Build the pipeline ``config`` describes around ``transport``.

    ``tools`` maps a function name to ``(handler, options)``; options are those of
    :meth:`FunctionCallManager.register_function` (``description``, ``parameters``, ``timeout``...).
    """
    settings = config.bot
    context = LLMContext()
    if settings.system_prompt:
        context.add_message({"role": "system", "content": settings.system_prompt})
    stt = build_service(config.service_spec("stt"))
    llm = build_service(config.service_spec("llm"))
    tts = build_service(config.service_spec("tts"))
    for service in (stt, llm, tts):
        # a failing provider is heard as this apology, never as silence (a FallbackService says it
        # once no provider is left)
        if hasattr(service, "apology"):
            service.apology = settings.apology or None
    functions = FunctionCallManager(context)
    for name, (handler, options) in (tools or {}).items():
        functions.register_function(name, handler, **options)
    echo = None
    if config.turn.echo_guard:
        from voiceframe.audio.echo import EchoGuard

        echo = EchoGuard()
    turns = _turns(config.turn, echo)
    output = transport.output()
    stages: list[FrameProcessor] = [
        transport.input(),
        _vad(config.vad),
        stt,
        turns,
        UserAggregator(context),
        llm,
        functions,
        tts,
        output,
    ]
    if echo is not None:
        from voiceframe.transports.output import OutputTransport

        # what was played is the echo reference
        stages.append(echo.reference_tap(output if isinstance(output, OutputTransport) else None))
    stages.append(AssistantAggregator(context))
    pipeline = Pipeline(stages, name="bot")
    return Bot(pipeline, context, functions, stt, llm, tts, turns, settings.greeting or None)


async def run_bot(
    bot: Bot,
    *,
    observers: list[Any] | None = None,
    params: Any = None,
    idle_timeout: float | None = None,
) -> Any:
    """Run ``bot`` as one session (greeting first, if any); returns the task after it finished."""
    from voiceframe.frames import TTSSpeakFrame
    from voiceframe.task import PipelineTask

    task = PipelineTask(bot.pipeline, params=params, observers=observers or [], idle_timeout=idle_timeout)
    if bot.greeting:
        await task.queue_frame(TTSSpeakFrame(text=bot.greeting))
    await task.run()
    return task
