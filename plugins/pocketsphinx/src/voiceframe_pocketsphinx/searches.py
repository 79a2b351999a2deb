"""Build pocketsphinx search definitions (keyphrase lists, JSGF grammars) from Python values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

DEFAULT_KWS_THRESHOLD = 1e-40
"""Detection threshold for keyphrases given without one (lower = more detections)."""

_WORD = re.compile(r"[a-z0-9']+(?:[-.][a-z0-9']+)*")
_JSGF_NOISE = re.compile(r"<[^>]*>|/[^/]*/|\{[^}]*\}|//.*|/\*.*?\*/", re.S)
_JSGF_KEYWORDS = frozenset({"public"})


def normalize_phrase(phrase: str) -> str:
    """Lower-case, single-spaced phrase; ValueError if it is empty."""
    words = phrase.lower().split()
    if not words:
        raise ValueError("empty phrase")
    return " ".join(words)


def keyphrase_file(keyphrases: Sequence[str] | Mapping[str, float], default_threshold: float) -> str:
    """Contents of a pocketsphinx ``kws`` file: one ``phrase /threshold/`` per line."""
    items = (
        keyphrases.items()
        if isinstance(keyphrases, Mapping)
        else ((p, default_threshold) for p in keyphrases)
    )
    lines = []
    for phrase, threshold in items:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"keyphrase threshold must be in (0, 1), got {threshold} for {phrase!r}")
        lines.append(f"{normalize_phrase(phrase)} /{threshold:.0e}/")
    if not lines:
        raise ValueError("keyphrases must not be empty")
    return "\n".join(lines) + "\n"


def grammar_text(grammar: str | Sequence[str]) -> str:
    """JSGF text: given verbatim, or built as ``public <command> = phrase | phrase ...;``."""
    if isinstance(grammar, str):
        if not grammar.lstrip().startswith("#JSGF"):
            raise ValueError(
                "grammar text must be JSGF starting with '#JSGF V1.0;' (or pass a list of phrases)"
            )
        return grammar
    phrases = [normalize_phrase(p) for p in grammar]
    if not phrases:
        raise ValueError("grammar must contain at least one phrase")
    return "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(phrases) + ";\n"


def words_of(text: str) -> list[str]:
    """Vocabulary words in phrases or a JSGF grammar (rule names, weights and tags removed)."""
    # Header, grammar name and imports hold no vocabulary.
    body = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith(("#", "grammar ", "import "))
    )
    body = _JSGF_NOISE.sub(" ", body.lower())
    return [w for w in _WORD.findall(body) if w not in _JSGF_KEYWORDS]
