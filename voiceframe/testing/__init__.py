"""Helpers for testing processors, pipelines and whole conversations (for users' tests too)."""

from voiceframe.testing.run import InlineStallError, ProcessorRun, Upstream, Wait, run_processor

__all__ = ["InlineStallError", "ProcessorRun", "Upstream", "Wait", "run_processor"]
