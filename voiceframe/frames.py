"""Every frame type that flows through a voiceframe pipeline.

Three kinds:

* :class:`SystemFrame` is handled as soon as it arrives, ahead of queued frames, and is never dropped by
  an interruption (start, cancel, errors, interruptions, speaking state, input audio, metrics).
* :class:`DataFrame` is ordered content (output audio, text, LLM tokens, transcriptions, spoken words).
* :class:`ControlFrame` is an ordered signal (end, LLM response start/end, TTS started/stopped, ...).

Data and control frames are interruptible unless their class (or the instance) says otherwise.
Every frame carries an ``epoch``: the interruption epoch it was produced in. A processor that has seen
an interruption drops interruptible frames of an older epoch, so a stale word or audio chunk cannot slip
past an interruption, whatever queue it sat in.

>>> f = OutputAudioRawFrame(audio=b"\\x00\\x00" * 320, sample_rate=16000)
>>> f.duration
0.02
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from voiceframe.context.llm_context import LLMContext

_ids = itertools.count(1)
_get_running_loop = asyncio._get_running_loop  # C fast path: returns None outside a loop


def _next_id() -> int:
    return next(_ids)


def id_fence() -> int:
    """A frame id no frame made so far has, and every frame made from now on exceeds.

    An interruption records one when it opens its epoch: a frame whose id is below the fence was made
    before the interruption, so it belongs to an older epoch wherever it is first pushed.
    """
    return next(_ids)


def now() -> float:
    """The pipeline clock: the running event loop's time (virtual under a virtual clock)."""
    loop = _get_running_loop()
    return loop.time() if loop is not None else time.monotonic()


# What the processor runtime does with a frame before the user's `process` sees it.
ROLE_PLAIN = 0
ROLE_START = 1
ROLE_END = 2
ROLE_CANCEL = 3
ROLE_INTERRUPTION = 4


@dataclass(slots=True, kw_only=True, eq=False, weakref_slot=True)
class Frame:
    """Base of all frames. Identity semantics: two frames are equal only if they are the same object."""

    id: int = field(default_factory=_next_id)
    created: float = field(default_factory=now)
    #: presentation time on the playout clock, for frames that must line up with played audio
    pts: float | None = None
    #: interruption epoch; -1 until the frame enters the session (queued into a task or first pushed)
    epoch: int = -1
    #: interruptible frames are dropped by an interruption (and when they are of an older epoch)
    interruptible: bool = True

    role: ClassVar[int] = ROLE_PLAIN
    is_system: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"{type(self).__name__}#{self.id}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, epoch={self.epoch})"


@dataclass(slots=True, eq=False)
class SystemFrame(Frame):
    """Handled immediately, overtakes queued frames, never dropped by an interruption."""

    interruptible: bool = field(default=False, kw_only=True)
    is_system: ClassVar[bool] = True


@dataclass(slots=True, eq=False)
class DataFrame(Frame):
    """Ordered content."""


@dataclass(slots=True, eq=False)
class ControlFrame(Frame):
    """Ordered signal."""


# --------------------------------------------------------------------------------------------------
# Lifecycle


@dataclass(slots=True, eq=False)
class StartFrame(SystemFrame):
    """First frame of every session; processors start their work when they see it."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    allow_interruptions: bool = True
    enable_metrics: bool = True
    role: ClassVar[int] = ROLE_START


@dataclass(slots=True, eq=False)
class EndFrame(ControlFrame):
    """Graceful end: travels behind every queued frame, each processor flushes then stops."""

    reason: str | None = None
    interruptible: bool = field(default=False, kw_only=True)
    role: ClassVar[int] = ROLE_END


@dataclass(slots=True, eq=False)
class CancelFrame(SystemFrame):
    """Immediate stop: in-flight work is cancelled, queued frames are discarded."""

    reason: str | None = None
    role: ClassVar[int] = ROLE_CANCEL


@dataclass(slots=True, eq=False)
class ErrorFrame(SystemFrame):
    """An error, sent upstream to the task. ``fatal`` errors end the session whatever the policy."""

    error: str = ""
    fatal: bool = False
    processor: str | None = None
    exception: BaseException | None = None

    def __repr__(self) -> str:
        return f"ErrorFrame(error={self.error!r}, fatal={self.fatal}, processor={self.processor})"


@dataclass(slots=True, eq=False)
class EndTaskFrame(SystemFrame):
    """Pushed upstream from inside the pipeline: end the session once everything queued is done."""

    reason: str | None = None


@dataclass(slots=True, eq=False)
class CancelTaskFrame(SystemFrame):
    """Pushed upstream from inside the pipeline: cancel the session now."""

    reason: str | None = None


@dataclass(slots=True, eq=False)
class InterruptionFrame(SystemFrame):
    """The user interrupted the bot. Its ``epoch`` is the new epoch every processor moves to.

    ``fence`` is set when the epoch opens (see :func:`id_fence`): frames made before it take an older
    epoch when they are first pushed, so they are dropped as stale.
    """

    fence: int = -1
    role: ClassVar[int] = ROLE_INTERRUPTION


@dataclass(slots=True, eq=False)
class StopWhenDoneFrame(ControlFrame):
    """Queued in order: when it reaches the end of the pipeline the task ends gracefully."""

    interruptible: bool = field(default=False, kw_only=True)


# --------------------------------------------------------------------------------------------------
# Audio


def _check_audio(frame: InputAudioRawFrame | OutputAudioRawFrame) -> None:
    if frame.sample_rate <= 0:
        raise ValueError(f"{type(frame).__name__}: sample_rate must be positive, got {frame.sample_rate}")
    if frame.num_channels <= 0:
        raise ValueError(f"{type(frame).__name__}: num_channels must be positive, got {frame.num_channels}")
    if len(frame.audio) % (2 * frame.num_channels):
        raise ValueError(
            f"{type(frame).__name__}: {len(frame.audio)} bytes is not a whole number of int16 samples "
            f"for {frame.num_channels} channel(s); audio must be interleaved int16 PCM "
            f"(a multiple of {2 * frame.num_channels} bytes)"
        )


class _AudioMixin:
    """Shared helpers for int16 PCM frames (no copies)."""

    __slots__ = ()
    audio: bytes
    sample_rate: int
    num_channels: int

    @property
    def num_frames(self) -> int:
        """Samples per channel."""
        return len(self.audio) // (2 * self.num_channels)

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.audio) / (2 * self.num_channels * self.sample_rate)

    def to_numpy(self) -> npt.NDArray[np.int16]:
        """A read-only int16 view of the audio, shape (frames,) or (frames, channels); no copy."""
        import numpy as np

        samples = np.frombuffer(self.audio, dtype=np.int16)
        return samples if self.num_channels == 1 else samples.reshape(-1, self.num_channels)


@dataclass(slots=True, eq=False)
class InputAudioRawFrame(_AudioMixin, SystemFrame):
    """Audio from the user (int16 PCM). A system frame so it keeps flowing while the bot works."""

    audio: bytes = b""
    sample_rate: int = 16000
    num_channels: int = 1

    def __post_init__(self) -> None:
        _check_audio(self)

    def __repr__(self) -> str:
        return f"InputAudioRawFrame(id={self.id}, {self.num_frames} frames @ {self.sample_rate} Hz)"


@dataclass(slots=True, eq=False)
class OutputAudioRawFrame(_AudioMixin, DataFrame):
    """Audio for the user (int16 PCM), played in order by the output transport."""

    audio: bytes = b""
    sample_rate: int = 24000
    num_channels: int = 1

    def __post_init__(self) -> None:
        _check_audio(self)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id}, epoch={self.epoch}, "
            f"{self.num_frames} frames @ {self.sample_rate} Hz)"
        )


@dataclass(slots=True, eq=False)
class TTSAudioRawFrame(OutputAudioRawFrame):
    """Audio produced by a TTS service for one utterance context."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class SpeechOutputAudioRawFrame(OutputAudioRawFrame):
    """Audio played without being part of the conversation (e.g. sounds, hold music)."""


# --------------------------------------------------------------------------------------------------
# Text


@dataclass(slots=True)
class WordTiming:
    """One recognised or spoken word with its start/end in seconds from the start of its audio."""

    word: str
    start: float
    end: float | None = None
    confidence: float | None = None


@dataclass(slots=True, eq=False)
class TextFrame(DataFrame):
    """A piece of text."""

    text: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, epoch={self.epoch}, text={self.text!r})"


@dataclass(slots=True, eq=False)
class LLMTextFrame(TextFrame):
    """A token (or a few) streamed by an LLM."""


@dataclass(slots=True, eq=False)
class TTSTextFrame(TextFrame):
    """One word as it is spoken; ``pts`` places it on the playout clock."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class TranscriptionFrame(TextFrame):
    """A final transcript of user speech. Never dropped by an interruption: it is what the user said."""

    user_id: str = ""
    timestamp: float | None = None
    language: str | None = None
    words: list[WordTiming] | None = None
    confidence: float | None = None
    interruptible: bool = field(default=False, kw_only=True)


@dataclass(slots=True, eq=False)
class InterimTranscriptionFrame(TextFrame):
    """A partial transcript that may still change."""

    user_id: str = ""
    timestamp: float | None = None
    language: str | None = None
    words: list[WordTiming] | None = None
    confidence: float | None = None
    interruptible: bool = field(default=False, kw_only=True)


# --------------------------------------------------------------------------------------------------
# LLM and TTS control


@dataclass(slots=True, eq=False)
class LLMFullResponseStartFrame(ControlFrame):
    """An LLM response begins; everything until the matching end belongs to one assistant message."""

    response_id: str | None = None


@dataclass(slots=True, eq=False)
class LLMFullResponseEndFrame(ControlFrame):
    """An LLM response is complete."""

    response_id: str | None = None


@dataclass(slots=True, eq=False)
class LLMContextFrame(DataFrame):
    """Asks the LLM to run on this context."""

    context: LLMContext | None = None


@dataclass(slots=True, eq=False)
class LLMMessagesAppendFrame(DataFrame):
    """Appends messages to the context (and optionally runs the LLM)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    run_llm: bool = False


@dataclass(slots=True, eq=False)
class TTSSpeakFrame(DataFrame):
    """Speak this text as one utterance (greetings, fillers); it goes into context as it is heard."""

    text: str = ""
    append_to_context: bool = True


@dataclass(slots=True, eq=False)
class TTSStartedFrame(ControlFrame):
    """A TTS utterance begins."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class TTSStoppedFrame(ControlFrame):
    """A TTS utterance ends."""

    context_id: str | None = None


# --------------------------------------------------------------------------------------------------
# Speaking state


@dataclass(slots=True, eq=False)
class UserStartedSpeakingFrame(SystemFrame):
    """The turn controller decided the user's turn has started."""


@dataclass(slots=True, eq=False)
class UserStoppedSpeakingFrame(SystemFrame):
    """The turn controller decided the user's turn has ended."""


@dataclass(slots=True, eq=False)
class VADUserStartedSpeakingFrame(SystemFrame):
    """Voice activity began (raw VAD decision, before turn logic)."""

    start_secs: float = 0.0


@dataclass(slots=True, eq=False)
class VADUserStoppedSpeakingFrame(SystemFrame):
    """Voice activity ended (raw VAD decision, before turn logic)."""

    stop_secs: float = 0.0


@dataclass(slots=True, eq=False)
class BotStartedSpeakingFrame(SystemFrame):
    """The output transport started playing bot audio."""


@dataclass(slots=True, eq=False)
class BotStoppedSpeakingFrame(SystemFrame):
    """The output transport finished playing bot audio."""


# --------------------------------------------------------------------------------------------------
# Function calls


@dataclass(slots=True, eq=False)
class FunctionCallInProgressFrame(ControlFrame):
    """A tool call started; the context holds an IN_PROGRESS response until the result arrives."""

    tool_call_id: str = ""
    function_name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    cancel_on_interruption: bool = True
    interruptible: bool = field(default=False, kw_only=True)


@dataclass(slots=True, eq=False)
class FunctionCallResultFrame(ControlFrame):
    """A tool call finished. Uninterruptible: a result is never lost to an interruption."""

    tool_call_id: str = ""
    function_name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    run_llm: bool = True
    interruptible: bool = field(default=False, kw_only=True)


@dataclass(slots=True, eq=False)
class FunctionCallCancelFrame(SystemFrame):
    """A running tool call was cancelled (usually by an interruption)."""

    tool_call_id: str = ""
    function_name: str = ""


# --------------------------------------------------------------------------------------------------
# Metrics and settings


@dataclass(slots=True)
class MetricsData:
    """One measurement by one processor."""

    processor: str
    kind: Literal["ttfb", "processing", "llm_usage", "tts_usage", "turn"]
    value: float
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class MetricsFrame(SystemFrame):
    """Measurements (time to first byte, processing time, usage)."""

    data: list[MetricsData] = field(default_factory=list)


class SettingsScope(Enum):
    """Which services a settings update is for."""

    ANY = "any"
    STT = "stt"
    LLM = "llm"
    TTS = "tts"
    VAD = "vad"


@dataclass(slots=True, eq=False)
class UpdateSettingsFrame(ControlFrame):
    """Changes settings of a service (or VAD) at run time; unknown keys are an error."""

    settings: dict[str, Any] = field(default_factory=dict)
    scope: SettingsScope = SettingsScope.ANY
    target: str | None = None
    interruptible: bool = field(default=False, kw_only=True)


@dataclass(slots=True, eq=False)
class InputDTMFFrame(SystemFrame):
    """A keypad digit pressed by the caller."""

    digit: str = ""


@dataclass(slots=True, eq=False)
class TransportMessageFrame(DataFrame):
    """A JSON-able message for the client (e.g. a transcript event for the browser page)."""

    message: dict[str, Any] = field(default_factory=dict)
    interruptible: bool = field(default=False, kw_only=True)
