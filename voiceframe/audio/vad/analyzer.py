"""A pure, clock-free VAD state machine over int16 PCM.

``VADAnalyzer.feed(pcm)`` cuts the audio into model windows, scores each with Silero, smooths the
volume, and walks QUIET -> STARTING -> SPEAKING -> STOPPING -> QUIET like Pipecat's analyzer. Time is
counted in samples fed, never read from a clock, so the same audio always gives the same events, however
it is split into chunks. Events carry sample offsets; a processor turns them into frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voiceframe.audio.pcm import Int16Array, PCMLike, as_int16
from voiceframe.audio.rechunk import Rechunker
from voiceframe.audio.vad.silero import SileroBatch, SileroModel, SileroStream, check_sample_rate
from voiceframe.audio.volume import VolumeMeter

if TYPE_CHECKING:
    from voiceframe.audio.vad.batcher import VADBatcher

# The recurrent state drifts during long non-speech (strongly at 8 kHz) and then under-reports the
# speech that follows; Pipecat found a periodic reset during clear non-speech fixes it. Same policy:
# after RESET_INTERVAL_SECS of audio, reset once the VAD is quiet and RESET_LOW_WINDOWS windows in a
# row scored below RESET_MAX_CONFIDENCE (a dip inside a word never lasts that long).
RESET_INTERVAL_SECS = 2.0
RESET_MAX_CONFIDENCE = 0.1
RESET_LOW_WINDOWS = 5


class VADState(Enum):
    """Where the analyzer is between silence and speech."""

    QUIET = 1
    STARTING = 2
    SPEAKING = 3
    STOPPING = 4


#: the model is skipped while quiet and the smoothed volume is this far (0.1 = 10 dB) below min_volume
SKIP_MARGIN = 0.1


class VADParams(BaseModel):
    """Thresholds of the VAD. Durations are rounded to whole model windows (32 ms at 16 kHz)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: speech probability a window needs to count as speech
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    #: seconds of consecutive speech windows before "started speaking"
    start_secs: float = Field(default=0.2, ge=0.0, le=10.0)
    #: seconds of consecutive non-speech windows before "stopped speaking"
    stop_secs: float = Field(default=0.8, ge=0.0, le=30.0)
    #: smoothed 0..1 volume a window needs to count as speech (0.6 is about -50 dBFS)
    min_volume: float = Field(default=0.6, ge=0.0, le=1.0)


@dataclass(frozen=True, slots=True)
class VADEvent:
    """A speaking-state change. Offsets count samples since the analyzer was created (or reset)."""

    kind: Literal["started", "stopped"]
    #: where speech started (first window of the run that confirmed it) or stopped (first silent window)
    sample: int
    #: where the decision was made (end of the window that confirmed it): ``sample`` + start/stop delay
    decided_at: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        """``sample`` in seconds."""
        return self.sample / self.sample_rate

    @property
    def decided_at_seconds(self) -> float:
        """``decided_at`` in seconds."""
        return self.decided_at / self.sample_rate


class VADAnalyzer:
    """Feed mono int16 PCM of any chunk size; get :class:`VADEvent`s. One instance per audio stream."""

    __slots__ = (
        "_chunker",
        "_low_windows",
        "_model_stale",
        "_params",
        "_run_start",
        "_run_windows",
        "_start_windows",
        "_stop_windows",
        "_stream",
        "_volume",
        "_windows_since_reset",
        "last_confidence",
        "last_volume",
        "sample_rate",
        "samples",
        "skipped",
        "state",
    )

    def __init__(
        self,
        sample_rate: int = 16000,
        params: VADParams | None = None,
        *,
        num_channels: int = 1,
        model: SileroModel | None = None,
        model_path: str | None = None,
    ) -> None:
        if num_channels != 1:
            raise ValueError(
                f"VADAnalyzer needs mono audio, got {num_channels} channels; "
                "convert with voiceframe.audio.pcm.downmix(pcm, num_channels)"
            )
        self.sample_rate = check_sample_rate(sample_rate)
        self._stream = SileroStream(sample_rate, model or SileroModel.shared(model_path))
        self._chunker = Rechunker(self._stream.window * 2)
        self._volume = VolumeMeter()
        self._params = params or VADParams()
        self._start_windows = self._stop_windows = 1
        self._apply_params()
        self.state = VADState.QUIET
        #: samples analysed so far (whole windows; a partial window waits in the buffer)
        self.samples = 0
        self.last_confidence = 0.0
        self.last_volume = 0.0
        self._run_windows = 0  # windows in the current STARTING or STOPPING run
        self._run_start = 0  # sample offset where that run began
        self._windows_since_reset = 0
        self._low_windows = 0
        self._model_stale = False
        #: windows scored by the model and windows skipped below the volume gate
        self.skipped = 0

    # -- parameters ----------------------------------------------------------------------------

    @property
    def params(self) -> VADParams:
        """Current parameters (immutable; change them with :meth:`update_params`)."""
        return self._params

    @property
    def window_samples(self) -> int:
        """Samples per model window (512 at 16 kHz, 256 at 8 kHz)."""
        return self._stream.window

    def update_params(self, **changes: Any) -> VADParams:
        """Change some parameters at run time; unknown names or bad values raise ``ValueError``.

        Unlike Pipecat, the speaking state is kept: a processor that saw "started" still gets "stopped".
        """
        self._params = VADParams.model_validate({**self._params.model_dump(), **changes})
        self._apply_params()
        return self._params

    def _apply_params(self) -> None:
        window_secs = self._stream.window / self.sample_rate
        self._start_windows = max(1, round(self._params.start_secs / window_secs))
        self._stop_windows = max(1, round(self._params.stop_secs / window_secs))

    # -- analysis ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start over as if newly created (state, model memory, volume, buffered audio, offsets)."""
        self._stream.reset()
        self._chunker.clear()
        self._volume.reset()
        self.state = VADState.QUIET
        self.samples = 0
        self._run_windows = self._run_start = self._windows_since_reset = self._low_windows = 0

    def feed(self, pcm: PCMLike) -> list[VADEvent]:
        """Analyse ``pcm`` (buffering any partial window) and return the events it caused, in order.

        ``pcm`` is mono int16: bytes (any length, even a split sample) or an int16 array.
        """
        data = as_int16(pcm).tobytes() if isinstance(pcm, np.ndarray) else pcm
        events: list[VADEvent] = []
        for window in self._chunker.push(data):
            samples = as_int16(window)
            volume, skip = self._gate(samples)
            confidence = 0.0 if skip else self._stream.score(samples)
            event = self._advance(samples, confidence, volume)
            if event is not None:
                events.append(event)
        return events

    async def feed_batched(self, pcm: PCMLike, batcher: VADBatcher) -> list[VADEvent]:
        """Like :meth:`feed`, with the model calls batched across streams by ``batcher``."""
        data = as_int16(pcm).tobytes() if isinstance(pcm, np.ndarray) else pcm
        events: list[VADEvent] = []
        for window in self._chunker.push(data):
            samples = as_int16(window)
            volume, skip = self._gate(samples)
            confidence = 0.0 if skip else await batcher.score(self._stream, samples)
            event = self._advance(samples, confidence, volume)
            if event is not None:
                events.append(event)
        return events

    def windows(self, pcm: PCMLike) -> list[bytes]:
        """Buffer ``pcm`` and return the complete windows for the caller to score (see :func:`feed_many`)."""
        data = as_int16(pcm).tobytes() if isinstance(pcm, np.ndarray) else pcm
        return self._chunker.frames(data)

    def step(self, window: PCMLike, confidence: float) -> VADEvent | None:
        """Advance by one window whose speech probability is already known."""
        samples = as_int16(window)
        return self._advance(samples, confidence, self._volume.update(samples))

    def _gate(self, samples: Int16Array) -> tuple[float, bool]:
        """The window's smoothed volume, and whether the model can be skipped for it.

        Far below the volume gate nothing can start, whatever the model says, so while quiet the model
        is skipped (most of a call is silence on one side); its memory is then stale and reset.
        """
        volume = self._volume.update(samples)
        if self.state is VADState.QUIET and volume < self._params.min_volume - SKIP_MARGIN:
            self._model_stale = True
            self.skipped += 1
            return volume, True
        if self._model_stale:
            self._stream.reset()
            self._model_stale = False
        return volume, False

    def _advance(self, samples: Int16Array, confidence: float, volume: float) -> VADEvent | None:
        self.last_confidence, self.last_volume = confidence, volume
        start = self.samples
        self.samples += samples.size
        speech = confidence >= self._params.confidence and volume >= self._params.min_volume
        event = self._transition(speech, start)
        self._maybe_reset_model(confidence)
        return event

    def _transition(self, speech: bool, start: int) -> VADEvent | None:
        state = self.state
        if speech:
            if state is VADState.QUIET:
                self.state, self._run_windows, self._run_start = VADState.STARTING, 1, start
            elif state is VADState.STARTING:
                self._run_windows += 1
            elif state is VADState.STOPPING:
                self.state, self._run_windows = VADState.SPEAKING, 0
            if self.state is VADState.STARTING and self._run_windows >= self._start_windows:
                self.state, self._run_windows = VADState.SPEAKING, 0
                return VADEvent("started", self._run_start, self.samples, self.sample_rate)
        else:
            if state is VADState.STARTING:
                self.state, self._run_windows = VADState.QUIET, 0
            elif state is VADState.SPEAKING:
                self.state, self._run_windows, self._run_start = VADState.STOPPING, 1, start
            elif state is VADState.STOPPING:
                self._run_windows += 1
            if self.state is VADState.STOPPING and self._run_windows >= self._stop_windows:
                self.state, self._run_windows = VADState.QUIET, 0
                return VADEvent("stopped", self._run_start, self.samples, self.sample_rate)
        return None

    def _maybe_reset_model(self, confidence: float) -> None:
        self._windows_since_reset += 1
        self._low_windows = self._low_windows + 1 if confidence < RESET_MAX_CONFIDENCE else 0
        if (
            self.state is VADState.QUIET
            and self._low_windows >= RESET_LOW_WINDOWS
            and self._windows_since_reset * self._stream.window >= RESET_INTERVAL_SECS * self.sample_rate
        ):
            self._stream.reset()
            self._windows_since_reset = 0


def feed_many(analyzers: Sequence[VADAnalyzer], chunks: Sequence[PCMLike]) -> list[list[VADEvent]]:
    """Feed one chunk to each analyzer, scoring the windows of all of them in batched model calls.

    Gives the same events as calling ``a.feed(c)`` for each pair; each analyzer must appear once.
    """
    if len(analyzers) != len(chunks):
        raise ValueError("one chunk per analyzer")
    pending = [a.windows(c) for a, c in zip(analyzers, chunks, strict=True)]
    events: list[list[VADEvent]] = [[] for _ in analyzers]
    depth = max((len(p) for p in pending), default=0)
    batch = SileroBatch()
    for k in range(depth):
        scored: list[tuple[int, Int16Array, float]] = []
        for i, p in enumerate(pending):
            if k >= len(p):
                continue
            samples = as_int16(p[k])
            volume, skip = analyzers[i]._gate(samples)
            if skip:
                event = analyzers[i]._advance(samples, 0.0, volume)
                if event is not None:
                    events[i].append(event)
            else:
                batch.add(analyzers[i]._stream, samples)
                scored.append((i, samples, volume))
        probs = batch.run() if scored else np.zeros(0, dtype=np.float32)
        for j, (i, samples, volume) in enumerate(scored):
            event = analyzers[i]._advance(samples, float(probs[j]), volume)
            if event is not None:
                events[i].append(event)
    return events
