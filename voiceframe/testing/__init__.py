"""Helpers for testing processors, pipelines and whole conversations (for users' tests too)."""

from voiceframe.testing.run import ProcessorRun, Wait, run_processor

__all__ = ["ProcessorRun", "Wait", "run_processor"]
