"""What a service says instead of silence when its provider fails and no backup is left.

The apology goes where the caller hears it from that service's place in the pipeline:

- an LLM answers with it (a response of its own, after the failed one is closed, so TTS speaks any
  partial answer first and the context keeps the two apart);
- an STT asks TTS to speak it (``TTSSpeakFrame``, passed on by the LLM);
- a TTS, which cannot speak any more, sends it as text (``TextFrame``) to the output transport.
"""

from __future__ import annotations

from voiceframe.frames import (
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
    TTSSpeakFrame,
)

DEFAULT_APOLOGY = "Sorry, I'm having trouble right now."


def apology_frames(kind: str, text: str) -> list[Frame]:
    """The frames that carry ``text`` downstream from a service of ``kind`` ("llm", "stt", "tts")."""
    if kind == "llm":
        return [LLMFullResponseStartFrame(), LLMTextFrame(text=text), LLMFullResponseEndFrame()]
    if kind == "stt":
        return [TTSSpeakFrame(text=text)]
    return [TextFrame(text=text)]
