"""LLM tokens -> speakable chunks for a TTS: whole sentences, or the first clause early for latency.

A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by white space (so the decision waits for
the next character), or at a line break. Not an end: abbreviations ("Dr. Smith", "e.g. this"),
initials ("J. R. R. Tolkien"), decimals ("3.14"), e-mail addresses and URLs ("ann.lee@example.com"),
and numbered-list markers ("1. Milk"); each list item is its own chunk.

>>> agg = SentenceAggregator()
>>> [c for t in ["Dr. Smith paid $3", ".50 at 9 a.m. today. ", "Mail ann.lee@ex", "ample.com now! ", "Ok"]
...  for c in agg.add(t)] + [agg.flush()]
['Dr. Smith paid $3.50 at 9 a.m. today.', 'Mail ann.lee@example.com now!', 'Ok']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DEFAULT_ABBREVIATIONS", "SentenceAggregator"]

#: lower-case, without the final dot
DEFAULT_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "ft",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "approx",
        "dept",
        "est",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "nos",
        "vol",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "u.s",
        "u.k",
        "ave",
        "blvd",
        "rd",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "rev",
        "hon",
    ]
)

_ENDERS = ".!?…"
_CLOSERS = "\"')]}»\u201d\u2019"  # straight and curly closing quotes, brackets
_CLAUSE = ",;:—"
_LIST_MARKER = re.compile(r"(?:^|\n)\s*(?:\d{1,3}|[a-zA-Z])[.)]$")


class SentenceAggregator:
    """Collects streamed text and returns speakable chunks.

    ``first_clause_min_chars``: the first chunk of a response may end at a clause break (``,;:—``)
    once it has at least this many characters, so speech starts sooner (None: sentences only).
    ``min_chars``: a sentence shorter than this is held and joined with the next one ("Ok." "Sure.").
    """

    def __init__(
        self,
        *,
        first_clause_min_chars: int | None = 24,
        min_chars: int = 1,
        abbreviations: Iterable[str] = DEFAULT_ABBREVIATIONS,
        split_lines: bool = True,
    ) -> None:
        self.first_clause_min_chars = first_clause_min_chars
        self.min_chars = min_chars
        self.abbreviations = frozenset(a.lower().rstrip(".") for a in abbreviations)
        self.split_lines = split_lines
        self._buf = ""
        self._scan = 0  # where to resume looking for a boundary
        self._first = True

    def add(self, text: str) -> list[str]:
        """Add streamed text; return every chunk that is now complete."""
        self._buf += text
        out: list[str] = []
        while True:
            end = self._find_boundary()
            if end is None:
                break
            chunk = self._buf[:end].strip()
            self._buf = self._buf[end:]
            self._scan = 0
            if chunk:
                out.append(chunk)
                self._first = False
        return out

    def flush(self) -> str | None:
        """The rest of the text at the end of a response (None if there is none); starts a new response."""
        rest = self._buf.strip()
        self.reset()
        return rest or None

    def reset(self) -> None:
        """Forget buffered text (an interruption); the next chunk is a response's first again."""
        self._buf = ""
        self._scan = 0
        self._first = True

    # ----------------------------------------------------------------------------------- internals

    def _find_boundary(self) -> int | None:
        buf = self._buf
        n = len(buf)
        i = self._scan
        while i < n:
            ch = buf[i]
            if ch == "\n" and self.split_lines and buf[:i].strip():
                if len(buf[:i].strip()) >= self.min_chars:
                    return i + 1
            elif ch in _ENDERS:
                j = i + 1
                while j < n and (buf[j] in _ENDERS or buf[j] in _CLOSERS):
                    j += 1
                if j >= n:
                    self._scan = i  # cannot decide before the next character
                    return None
                if (
                    buf[j].isspace()
                    and self._is_sentence_end(buf, i)
                    and len(buf[:j].strip()) >= self.min_chars
                ):
                    return j
            elif ch in _CLAUSE and self._first and self.first_clause_min_chars is not None:
                if i + 1 >= n:
                    self._scan = i
                    return None
                if buf[i + 1].isspace() and len(buf[:i].strip()) >= self.first_clause_min_chars:
                    return i + 1
            i += 1
        self._scan = n
        return None

    def _is_sentence_end(self, buf: str, i: int) -> bool:
        if buf[i] != ".":
            return True
        # the word before the dot
        k = i
        while k > 0 and not buf[k - 1].isspace():
            k -= 1
        word = buf[k:i]
        bare = word.lstrip(_CLOSERS + "([{\"'")
        if not bare:
            return True
        if bare.lower() in self.abbreviations:
            return False
        if len(bare) == 1 and bare.isalpha() and bare.isupper():
            return False  # an initial: "J. Smith"
        # "1. Milk" at the start of a line is a list marker
        return not _LIST_MARKER.search(buf[: i + 1])
