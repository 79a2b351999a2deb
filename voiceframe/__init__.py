"""voiceframe: a framework for real-time voice agents.

Typed frames flow through composable processors arranged in pipelines::

    from voiceframe import Pipeline, PipelineTask, FrameProcessor
    from voiceframe.frames import TextFrame

The package imports only what it needs on first use, so ``import voiceframe`` is fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Frame": "voiceframe.frames",
    "FrameDirection": "voiceframe.processor",
    "FrameProcessor": "voiceframe.processor",
    "QueuedFrameProcessor": "voiceframe.processor",
    "Pipeline": "voiceframe.pipeline",
    "ParallelPipeline": "voiceframe.pipeline",
    "PipelineTask": "voiceframe.task",
    "PipelineRunner": "voiceframe.task",
    "PipelineParams": "voiceframe.task",
    "ErrorPolicy": "voiceframe.task",
}

if TYPE_CHECKING:
    from voiceframe.frames import Frame
    from voiceframe.pipeline import ParallelPipeline, Pipeline
    from voiceframe.processor import FrameDirection, FrameProcessor, QueuedFrameProcessor
    from voiceframe.task import ErrorPolicy, PipelineParams, PipelineRunner, PipelineTask


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voiceframe' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ErrorPolicy",
    "Frame",
    "FrameDirection",
    "FrameProcessor",
    "ParallelPipeline",
    "Pipeline",
    "PipelineParams",
    "PipelineRunner",
    "PipelineTask",
    "QueuedFrameProcessor",
    "__version__",
]
