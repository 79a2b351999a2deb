"""voiceframe-pocketsphinx: offline streaming speech recognition with pocketsphinx (BSD-2-Clause)."""

from .engine import SAMPLE_RATE, SphinxRecognizer
from .results import Final, Partial, RecognizedWord
from .searches import DEFAULT_KWS_THRESHOLD

__all__ = ["DEFAULT_KWS_THRESHOLD", "SAMPLE_RATE", "Final", "Partial", "RecognizedWord", "SphinxRecognizer"]
