"""voiceframe-elevenlabs: ElevenLabs stream-input WebSocket TTS with word timings for voiceframe."""

from .alignment import WordAligner
from .settings import ElevenLabsTTSSettings
from .tts import ElevenLabsTTSService

__all__ = ["ElevenLabsTTSService", "ElevenLabsTTSSettings", "WordAligner"]
