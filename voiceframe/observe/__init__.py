"""Observers, metrics and (later) tracing and timelines."""

from voiceframe.observe.metrics import ProcessorMetrics
from voiceframe.observe.observer import Observer, ObserverHub, PushEvent

__all__ = ["Observer", "ObserverHub", "ProcessorMetrics", "PushEvent"]
