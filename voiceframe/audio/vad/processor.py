"""The VAD as a processor: Silero on every InputAudioRawFrame, speaking-state frames out.

Place it right after the input transport. Every audio frame is passed on unchanged (downstream, at
once); when the analyzer changes state, a :class:`~voiceframe.frames.VADUserStartedSpeakingFrame` or
:class:`~voiceframe.frames.VADUserStoppedSpeakingFrame` follows the audio frame that completed the
decision, so whoever buffers audio (the turn controller, Smart Turn) already holds that audio.

VAD frames go downstream only by default: everything that reacts to them (STT finalising, the turn
controller) is downstream. ``also_upstream=True`` sends a copy upstream too (e.g. for an input transport
that gates echo on it).

Parameters change at run time with ``UpdateSettingsFrame(scope=SettingsScope.VAD, settings={...})``
(keys are :class:`VADParams` fields; an unknown key is reported as an error and changes nothing).

Example::

    pipeline = Pipeline([transport.input(), VADProcessor(VADParams(stop_secs=0.2)), stt, turns, ...])
    await task.queue_frame(UpdateSettingsFrame(scope=SettingsScope.VAD, settings={"stop_secs": 0.5}))

Audio must be mono 16 or 8 kHz int16: the first frame that is not is reported once as a *fatal* error
naming the fix (a misconfigured input would otherwise leave a bot that silently never hears anyone).
"""

from __future__ import annotations

from voiceframe.audio.vad.analyzer import VADAnalyzer, VADEvent, VADParams
from voiceframe.audio.vad.batcher import VADBatcher
from voiceframe.audio.vad.silero import SUPPORTED_RATES, SileroModel
from voiceframe.frames import (
    Frame,
    InputAudioRawFrame,
    SettingsScope,
    UpdateSettingsFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor

__all__ = ["VADProcessor", "bad_audio_message"]


def bad_audio_message(sample_rate: int, num_channels: int) -> str | None:
    """Why audio of this shape cannot go into Silero, with the fix; ``None`` if it can."""
    if num_channels != 1:
        return (
            f"VADProcessor needs mono audio, got {num_channels} channels: downmix before the VAD "
            "(voiceframe.audio.pcm.downmix, or configure the input transport for 1 channel)"
        )
    if sample_rate not in SUPPORTED_RATES:
        return (
            f"VADProcessor needs 16000 or 8000 Hz audio, got {sample_rate} Hz: resample before the VAD "
            f"(voiceframe.audio.resample.StreamResampler({sample_rate}, 16000)) or set the input "
            "transport / PipelineParams.audio_in_sample_rate to 16000"
        )
    return None


class VADProcessor(FrameProcessor):
    """Runs a :class:`VADAnalyzer` on the user's audio; emits VAD started/stopped frames.

    The analyzer is made for the sample rate of the first audio frame (or ``sample_rate`` if given);
    audio at another rate later is an error, as above.
    """

    def __init__(
        self,
        params: VADParams | None = None,
        *,
        sample_rate: int | None = None,
        model: SileroModel | None = None,
        also_upstream: bool = False,
        batcher: VADBatcher | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        #: batches model calls with other sessions' (servers with many sessions; see batcher.py)
        self.batcher = batcher
        self._params = params or VADParams()
        self._model = model
        self._also_upstream = also_upstream
        self._analyzer: VADAnalyzer | None = None
        self._failed = False
        if sample_rate is not None:
            self._analyzer = self._new_analyzer(sample_rate)

    @property
    def params(self) -> VADParams:
        """Current parameters."""
        return self._analyzer.params if self._analyzer is not None else self._params

    @property
    def analyzer(self) -> VADAnalyzer | None:
        """The analyzer (``None`` until the first audio frame unless ``sample_rate`` was given)."""
        return self._analyzer

    def _new_analyzer(self, sample_rate: int) -> VADAnalyzer:
        message = bad_audio_message(sample_rate, 1)
        if message is not None:
            raise ValueError(message)
        return VADAnalyzer(sample_rate, self._params, model=self._model)

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame):
            await self.push(frame, direction)
            analyzer = self._analyzer
            if (
                analyzer is None
                or frame.sample_rate != analyzer.sample_rate
                or frame.num_channels != 1
                or self._failed
            ):
                analyzer = await self._check(frame)
                if analyzer is None:
                    return
            if self.batcher is None:
                events = analyzer.feed(frame.audio)
            else:
                events = await analyzer.feed_batched(frame.audio, self.batcher)
            for event in events:
                await self._emit(event)
        elif isinstance(frame, UpdateSettingsFrame) and frame.scope is SettingsScope.VAD:
            if frame.target is None or frame.target == self.name:
                await self._update(frame.settings)
            await self.push(frame, direction)
        else:
            await self.push(frame, direction)

    async def _check(self, frame: InputAudioRawFrame) -> VADAnalyzer | None:
        # Off the hot path: only the first frame, or frames of the wrong shape, come here.
        if self._failed:
            return None
        message = bad_audio_message(frame.sample_rate, frame.num_channels)
        if message is None and self._analyzer is not None:
            message = (
                f"VADProcessor: input sample rate changed from {self._analyzer.sample_rate} to "
                f"{frame.sample_rate} Hz mid-session; resample to one rate before the VAD"
            )
        if message is not None:
            self._failed = True
            await self.push_error(message, fatal=True)
            return None
        self._analyzer = self._new_analyzer(frame.sample_rate)
        return self._analyzer

    async def _emit(self, event: VADEvent) -> None:
        params = self.params
        out: Frame
        if event.kind == "started":
            out = VADUserStartedSpeakingFrame(start_secs=params.start_secs)
        else:
            out = VADUserStoppedSpeakingFrame(stop_secs=params.stop_secs)
        await self.push(out, DOWNSTREAM)
        if self._also_upstream:
            copy = (
                VADUserStartedSpeakingFrame(start_secs=params.start_secs)
                if event.kind == "started"
                else VADUserStoppedSpeakingFrame(stop_secs=params.stop_secs)
            )
            await self.push(copy, UPSTREAM)

    async def _update(self, settings: dict[str, object]) -> None:
        try:
            if self._analyzer is not None:
                self._params = self._analyzer.update_params(**settings)
            else:
                self._params = VADParams.model_validate({**self._params.model_dump(), **settings})
        except ValueError as exc:
            known = ", ".join(VADParams.model_fields)
            await self.push_error(f"{self.name}: bad VAD settings {settings!r} (known: {known}): {exc}")
