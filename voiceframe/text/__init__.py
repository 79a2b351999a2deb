"""Text utilities for speech: turning streamed LLM text into speakable chunks."""

from voiceframe.text.sentence_aggregator import SentenceAggregator

__all__ = ["SentenceAggregator"]
