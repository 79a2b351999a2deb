"""Turn espeak-ng WORD events into one timing per whitespace-separated input word.

espeak's events do not map one-to-one onto the words of the text:

* numbers and symbols expand to several spoken words, each with its own event ("42" -> two,
  "1234567" -> nine), and the later events may point inside or even behind the first one;
* a lone dash or a run of dots is silent, yet the *next* word's event points at it;
* an emoji's second spoken word points at the whitespace after it;
* silent punctuation tokens ("--", "...", "—") get no event at all.

So each event is attached to at most one input word, in order, and words left without an event
get times interpolated inside their neighbours' span (silent punctuation gets zero length).
Every input word therefore gets exactly one ``(start, end)``, starts never decrease, and each
word ends where the next one starts; the last one ends with the audio.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import NamedTuple

_TOKEN = re.compile(r"\S+")
# Punctuation (Unicode P*) that espeak-ng speaks aloud when it stands alone.
_SPOKEN_PUNCTUATION = frozenset("&%@#*/\\")


class WordTiming(NamedTuple):
    """A word of the input text and when it is spoken, in seconds from the start of the audio."""

    word: str
    start_s: float
    end_s: float


class Token(NamedTuple):
    text: str
    begin: int  # character offset in the source text
    end: int


def tokenize(text: str) -> list[Token]:
    """Whitespace-separated words with their character spans."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def is_silent(word: str) -> bool:
    """True for tokens espeak-ng does not pronounce (only punctuation such as ``--`` or ``...``)."""
    return all(unicodedata.category(ch).startswith("P") and ch not in _SPOKEN_PUNCTUATION for ch in word)


def _weight(word: str) -> int:
    if is_silent(word):
        return 0
    return max(1, sum(ch.isalnum() for ch in word))


def _owner(tokens: list[Token], begins: list[int], pos: int) -> int | None:
    """Index of the token an event at character ``pos`` belongs to."""
    # The last word starting at or before pos; if pos is in the whitespace after it, the event
    # continues that word (an emoji's second spoken word points there).
    owner = max(0, bisect.bisect_right(begins, pos) - 1)
    # A silent token's event really is the next pronounced word's (espeak points at the dash).
    while owner < len(tokens) and is_silent(tokens[owner].text):
        owner += 1
    return owner if owner < len(tokens) else None


def align_words(text: str, events: list[tuple[int, int]], num_samples: int,
                sample_rate: int) -> list[WordTiming]:
    """Timings for every word of ``text`` from ``(char index, sample offset)`` WORD events."""
    tokens = tokenize(text)
    if not tokens:
        return []
    begins = [tok.begin for tok in tokens]
    starts: list[int | None] = [None] * len(tokens)
    last_owner = -1
    last_sample = 0
    for pos, sample in events:
        owner = _owner(tokens, begins, pos)
        if owner is None or owner <= last_owner:
            continue  # a continuation of a word that already has its start
        last_sample = min(max(sample, last_sample), num_samples)
        starts[owner] = last_sample
        last_owner = owner
    filled = _interpolate(tokens, starts, num_samples)
    ends = [*filled[1:], num_samples]
    return [WordTiming(tok.text, s / sample_rate, e / sample_rate)
            for tok, s, e in zip(tokens, filled, ends, strict=True)]


def _interpolate(tokens: list[Token], starts: list[int | None], num_samples: int) -> list[int]:
    """Fill missing starts by sharing the span of the word before them by letter count."""
    out: list[int] = []
    i = 0
    n = len(tokens)
    while i < n:
        # A group is one timed word (or the start of the audio) plus the untimed words after it.
        group_start = i
        first = starts[i]
        span_begin = first if first is not None else (out[-1] if out else 0)
        i += 1
        while i < n and starts[i] is None:
            i += 1
        next_start = starts[i] if i < n else None
        span_end = num_samples if next_start is None else next_start
        weights = [_weight(tokens[k].text) for k in range(group_start, i)]
        total = sum(weights)
        acc = 0
        for w in weights:
            offset = (span_end - span_begin) * acc // total if total else 0
            out.append(span_begin + offset)
            acc += w
    return out
