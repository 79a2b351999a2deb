"""What the recogniser returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecognizedWord:
    """One recognised word (or keyphrase), in seconds from the start of the utterance.

    ``confidence`` is the word's posterior probability (0..1) in free (language model) mode;
    keyword and grammar searches compute none, so it is ``None`` there.
    """

    word: str
    start_s: float
    end_s: float
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Partial:
    """The best hypothesis so far, reported while audio is still arriving."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The result of a whole utterance."""

    text: str
    words: list[RecognizedWord]
    duration_s: float
    """Audio fed in this utterance."""
