"""Build the standard voice-agent pipeline from a config file and a transport.

::

    transport.input -> VAD -> STT -> turn controller -> user aggregator -> LLM -> function calls
        -> TTS -> transport.output -> assistant aggregator

Sections of the config (see :mod:`voiceframe.config`)::

    [bot]
    system_prompt = "You are a friendly voice assistant. Keep answers short."
    greeting = "Hello! How can I help?"

    [vad]
    start_secs = 0.2
    stop_secs = 0.8
    batch = true            # servers: one Silero call for all sessions' windows of a loop iteration

    [turn]
    strategy = "vad"        # vad | smart_turn | combined | transcript
    min_words = 0
    backchannels = ["mm-hmm", "yeah"]

    [stt] / [llm] / [tts]   provider = "..." plus that provider's settings
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from voiceframe.config import BotConfig, ConfigError
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.function_calls import FunctionCallManager
from voiceframe.context.llm_context import LLMContext
from voiceframe.context.user_aggregator import UserAggregator
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameProcessor
from voiceframe.transports.input import Transport

_TURN_KEYS = {"strategy", "min_words", "backchannels", "threshold", "max_wait", "late_final_secs"}
_BOT_KEYS = {"system_prompt", "greeting"}


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


def _check_keys(config: BotConfig, section: str, values: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        listing = ", ".join(sorted(known))
        raise ConfigError(f"{config.where(section, unknown[0])}: unknown setting; known settings: {listing}")


def _vad(config: BotConfig) -> FrameProcessor:
    from pydantic import ValidationError

    from voiceframe.audio.vad.analyzer import VADParams
    from voiceframe.audio.vad.processor import VADProcessor

    section = config.section("vad")
    values = dict(section.settings) if section else {}
    if section and section.provider not in (None, "silero"):
        raise ConfigError(f"{config.where('vad', 'provider')}: only 'silero' is available")
    # batch = true: score this session's windows together with other sessions' (servers)
    batch = values.pop("batch", False)
    if not isinstance(batch, bool):
        raise ConfigError(f"{config.where('vad', 'batch')}: must be true or false")
    try:
        params = VADParams(**values)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][0]) if exc.errors() else None
        raise ConfigError(f"{config.where('vad', key)}: {exc.errors()[0]['msg']}") from None
    if batch:
        from voiceframe.audio.vad.batcher import VADBatcher

        return VADProcessor(params, batcher=VADBatcher.shared())
    return VADProcessor(params)


def _turns(config: BotConfig) -> FrameProcessor:
    from voiceframe.turns.controller import UserTurnController
    from voiceframe.turns.strategies import (
        CombinedStrategy,
        EndOfTurnStrategy,
        SmartTurnStrategy,
        TranscriptStrategy,
        VADSilenceStrategy,
    )

    section = config.section("turn")
    values = dict(section.settings) if section else {}
    _check_keys(config, "turn", values, _TURN_KEYS)
    kind = values.get("strategy", "vad")
    max_wait = float(values.get("max_wait", 3.0))
    strategy: EndOfTurnStrategy
    if kind == "vad":
        strategy = VADSilenceStrategy()
    elif kind == "smart_turn":
        strategy = SmartTurnStrategy(threshold=float(values.get("threshold", 0.5)), max_wait=max_wait)
    elif kind == "combined":
        strategy = CombinedStrategy(threshold=float(values.get("threshold", 0.5)), max_wait=max_wait)
    elif kind == "transcript":
        strategy = TranscriptStrategy(max_wait=max_wait)
    else:
        raise ConfigError(
            f"{config.where('turn', 'strategy')}: unknown strategy {kind!r}; "
            "choose vad, smart_turn, combined or transcript"
        )
    return UserTurnController(
        strategy,
        min_words=int(values.get("min_words", 0)),
        backchannels=tuple(values.get("backchannels", ())),
        late_final_secs=float(values.get("late_final_secs", 1.0)),
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
    bot_section = config.section("bot")
    bot_values = dict(bot_section.settings) if bot_section else {}
    _check_keys(config, "bot", bot_values, _BOT_KEYS)
    context = LLMContext()
    prompt = bot_values.get("system_prompt")
    if prompt:
        context.add_message({"role": "system", "content": str(prompt)})
    stt = config.build_service("stt")
    llm = config.build_service("llm")
    tts = config.build_service("tts")
    functions = FunctionCallManager(context)
    for name, (handler, options) in (tools or {}).items():
        functions.register_function(name, handler, **options)
    turns = _turns(config)
    pipeline = Pipeline(
        [
            transport.input(),
            _vad(config),
            stt,
            turns,
            UserAggregator(context),
            llm,
            functions,
            tts,
            transport.output(),
            AssistantAggregator(context),
        ],
        name="bot",
    )
    greeting = bot_values.get("greeting")
    return Bot(pipeline, context, functions, stt, llm, tts, turns, str(greeting) if greeting else None)


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
