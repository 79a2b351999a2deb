"""voiceframe-espeak: offline espeak-ng text-to-speech with word timings (GPL-3.0-or-later)."""

from ._native import EspeakError, VoiceInfo
from .engine import EspeakEngine, Synthesis, is_deterministic, list_voices, speak_to_pcm
from .sentences import split_sentences
from .words import WordTiming

__all__ = [
    "EspeakEngine",
    "EspeakError",
    "Synthesis",
    "VoiceInfo",
    "WordTiming",
    "is_deterministic",
    "list_voices",
    "speak_to_pcm",
    "split_sentences",
]
