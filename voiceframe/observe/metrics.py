"""Per-processor metrics: time to first byte, processing time and usage, sent as MetricsFrames.

Example (inside a service)::

    self.metrics = ProcessorMetrics(self)
    self.metrics.start_ttfb()
    first = await stream.__anext__()
    await self.metrics.stop_ttfb()     # pushes MetricsFrame(kind="ttfb")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voiceframe.frames import MetricsData, MetricsFrame, now

if TYPE_CHECKING:
    from voiceframe.processor import FrameProcessor


class ProcessorMetrics:
    """Measures one processor on the pipeline clock and pushes the results downstream."""

    __slots__ = ("_processing_start", "_ttfb_start", "enabled", "model", "processor")

    def __init__(self, processor: FrameProcessor, *, model: str | None = None, enabled: bool = True) -> None:
        self.processor = processor
        self.model = model
        self.enabled = enabled
        self._ttfb_start: float | None = None
        self._processing_start: float | None = None

    def start_ttfb(self) -> None:
        """Mark the moment a request was sent."""
        self._ttfb_start = now()

    async def stop_ttfb(self) -> float | None:
        """Mark the first byte of the answer; pushes and returns the TTFB (None if not started)."""
        if self._ttfb_start is None:
            return None
        value = now() - self._ttfb_start
        self._ttfb_start = None
        await self._emit("ttfb", value)
        return value

    def start_processing(self) -> None:
        self._processing_start = now()

    async def stop_processing(self) -> float | None:
        if self._processing_start is None:
            return None
        value = now() - self._processing_start
        self._processing_start = None
        await self._emit("processing", value)
        return value

    def reset(self) -> None:
        """Forget running measurements (e.g. after an interruption cancelled the request)."""
        self._ttfb_start = None
        self._processing_start = None

    async def usage(self, kind: str, value: float, **extra: Any) -> None:
        """Report usage: ``llm_usage`` (tokens) or ``tts_usage`` (characters)."""
        await self._emit(kind, value, **extra)

    async def _emit(self, kind: str, value: float, **extra: Any) -> None:
        if not self.enabled:
            return
        data = MetricsData(self.processor.name, kind, value, self.model, dict(extra))  # type: ignore[arg-type]
        await self.processor.push(MetricsFrame(data=[data]))
