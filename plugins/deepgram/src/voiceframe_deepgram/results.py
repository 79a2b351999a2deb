"""Parsing Deepgram live-transcription ``Results`` messages into transcripts.

>>> msg = {"type": "Results", "is_final": True, "channel": {"alternatives": [{"transcript": "hi there",
...     "confidence": 0.9, "words": [{"word": "hi", "start": 0.1, "end": 0.3, "confidence": 0.9,
...     "punctuated_word": "Hi"}, {"word": "there", "start": 0.3, "end": 0.6, "confidence": 0.8}]}]}}
>>> t = parse_results(msg)
>>> (t.text, t.final, [w.word for w in t.words], t.words[1].end)
('hi there', True, ['Hi', 'there'], 0.6)
"""

from __future__ import annotations

from typing import Any

from voiceframe.frames import WordTiming
from voiceframe.services.stt import Transcript


class MalformedMessage(ValueError):
    """A message that does not have the documented shape."""


def parse_results(msg: dict[str, Any]) -> Transcript | None:
    """The transcript of a ``Results`` message (None when it has no text)."""
    try:
        alternative = msg["channel"]["alternatives"][0]
        text = str(alternative["transcript"])
        words = [_word(w) for w in alternative.get("words") or []]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedMessage(
            f"Results without channel.alternatives[0] transcript/words ({exc!r})"
        ) from None
    if not text.strip():
        return None
    confidence = alternative.get("confidence")
    return Transcript(
        text=text,
        final=bool(msg.get("is_final")),
        words=words,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
    )


def _word(w: dict[str, Any]) -> WordTiming:
    confidence = w.get("confidence")
    return WordTiming(
        word=str(w.get("punctuated_word") or w["word"]),
        start=float(w["start"]),
        end=float(w["end"]),
        confidence=float(confidence) if confidence is not None else None,
    )
