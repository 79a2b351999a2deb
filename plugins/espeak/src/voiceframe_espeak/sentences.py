"""Split text into sentences so synthesis can stream one sentence at a time."""

from __future__ import annotations

import re

_CLOSERS = "\"')]\u201d\u2019"  # straight and curly closing quotes, brackets
_OPENERS = "\"'([\u201c\u2018"
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "fig", "approx", "dept", "inc", "ltd"}
)
_INITIALS = re.compile(r"[a-z](?:\.[a-z])*")  # "J", "e.g", "u.s.a"


def _ends_sentence(token: str) -> bool:
    stripped = token.rstrip(_CLOSERS)
    if not stripped or stripped[-1] not in ".!?…":
        return False
    if stripped.endswith(".") and not stripped.endswith(".."):
        # A single period after an abbreviation or initials ("Dr.", "J.", "e.g.") is not an end.
        core = stripped[:-1].lstrip(_OPENERS).lower()
        if core in _ABBREVIATIONS or _INITIALS.fullmatch(core):
            return False
    return True


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, each a verbatim slice (whitespace trimmed), in order.

    Every word of ``text`` is in exactly one sentence. Blank lines also end a sentence.
    """
    sentences: list[str] = []
    start = 0
    for m in re.finditer(r"\S+|\n\s*\n", text):
        token = m.group()
        if token.strip() == "":  # paragraph break
            cut = m.start()
        elif _ends_sentence(token):
            cut = m.end()
        else:
            continue
        chunk = text[start:cut].strip()
        if chunk:
            sentences.append(chunk)
        start = cut
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
