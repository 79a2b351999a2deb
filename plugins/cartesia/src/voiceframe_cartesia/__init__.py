"""voiceframe-cartesia: Cartesia WebSocket text-to-speech with word timestamps for voiceframe."""

from .settings import CartesiaTTSSettings
from .tts import CartesiaTTSService

__all__ = ["CartesiaTTSService", "CartesiaTTSSettings"]
