"""ElevenLabs character alignment turned into word timings.

Each audio message carries ``alignment {chars, charStartTimesMs, charsDurationsMs}`` with times in ms
from the start of *that message's* audio; ``offset`` (seconds of audio before the message) puts them
on the timeline of the whole synthesis. A word may start in one message and end in the next.

>>> a = WordAligner()
>>> a.add({"chars": list("Hi th"), "charStartTimesMs": [0, 50, 100, 150, 200],
...        "charsDurationsMs": [50, 50, 50, 50, 50]}, offset=0.0)
[WordTiming(word='Hi', start=0.0, end=0.1, confidence=None)]
>>> a.add({"chars": list("ere"), "charStartTimesMs": [0, 40, 80], "charDurationsMs": [40, 40, 40]},
...       offset=0.25)
[]
>>> a.flush()
[WordTiming(word='there', start=0.15, end=0.37, confidence=None)]
"""

from __future__ import annotations

from typing import Any

from voiceframe.frames import WordTiming


class WordAligner:
    """Accumulates characters across messages and yields each word once its end is known."""

    def __init__(self) -> None:
        self._word = ""
        self._start = 0.0
        self._end = 0.0

    def add(self, alignment: dict[str, Any], offset: float) -> list[WordTiming]:
        chars = alignment["chars"]
        starts = alignment["charStartTimesMs"]
        # the stream-input docs spell it charsDurationsMs; other endpoints use charDurationsMs
        durations = alignment.get("charsDurationsMs", alignment.get("charDurationsMs"))
        if not isinstance(chars, list) or not isinstance(starts, list) or not isinstance(durations, list):
            raise ValueError("alignment needs lists chars, charStartTimesMs and charsDurationsMs")
        if not len(chars) == len(starts) == len(durations):
            raise ValueError("alignment lists differ in length")
        words: list[WordTiming] = []
        for char, start_ms, duration_ms in zip(chars, starts, durations, strict=True):
            start = round(offset + float(start_ms) / 1000, 6)
            if str(char).isspace():
                words.extend(self.flush())
                continue
            if not self._word:
                self._start = start
            self._word += str(char)
            self._end = round(start + float(duration_ms) / 1000, 6)
        return words

    def flush(self) -> list[WordTiming]:
        """The word in progress, if any (at the end of the audio)."""
        if not self._word:
            return []
        word, self._word = WordTiming(self._word, self._start, self._end), ""
        return [word]
