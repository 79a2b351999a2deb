"""A transcript-based end-of-turn signal, to adjust an audio model's turn-complete probability.

A final transcript that ends on a word that cannot end an English sentence (a conjunction, preposition,
article, possessive, filler such as "um" or "so") or on a number that may go on ("my number is five
five five") is probably unfinished; one that ends in a question mark or a closing phrase ("thanks",
"bye", "that's all") is probably finished. :func:`transcript_signal` returns a score in [-1, 1]
(negative: unfinished); :func:`combine` shifts a probability by it in log-odds space.
"""

from __future__ import annotations

import math
import re

_CONJUNCTIONS = {"and", "but", "or", "nor", "so", "because", "if", "then", "than", "that", "while",
                 "although", "though", "unless", "until", "whether", "when", "where", "which", "who",
                 "whose", "whom", "since", "as", "plus", "also", "cause", "cuz"}  # fmt: skip
_PREPOSITIONS = {"to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into", "onto",
                 "over", "under", "between", "through", "during", "before", "after", "without",
                 "within", "towards", "toward", "against", "among", "like", "via", "per"}  # fmt: skip
# Words that almost never end an English sentence but are not strong cues (possessives, subject
# pronouns, intensifiers). Auxiliaries and object pronouns are left out: "I know who you are."
_DANGLING = {"my", "your", "our", "their", "its", "i", "we", "they", "he", "she", "i'm", "it's",
             "let's", "very", "really", "gonna", "wanna", "gotta", "whose"}  # fmt: skip
_FILLERS = {"um", "uh", "umm", "uhh", "er", "erm", "hmm", "like", "so", "i mean", "you know", "kind of",
            "sort of"}  # fmt: skip
_NUMBERS = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
            "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety", "hundred", "thousand", "million", "point", "dot", "dash"}  # fmt: skip
_CLOSINGS = ("thanks", "thank you", "thank you very much", "thanks a lot", "bye", "goodbye", "bye bye",
             "see you", "that's all", "that is all", "that's it", "that's everything", "nothing else",
             "no thanks", "that's right", "that's correct", "exactly", "perfect", "great", "okay",
             "ok", "sounds good", "got it", "yes", "yeah", "no", "nope", "sure", "please")  # fmt: skip

_WORD = re.compile(r"[a-z0-9']+")

#: scores per ending; magnitudes say how sure each cue is
INCOMPLETE_STRONG = -0.9  # article, preposition, conjunction, filler, trailing comma/dash/ellipsis
INCOMPLETE_WEAK = -0.6  # pronoun/aux/possessive, or a digit string that may continue
COMPLETE_QUESTION = 0.7
COMPLETE_CLOSING = 0.8
COMPLETE_PERIOD = 0.2  # many STT engines add a period to anything: weak evidence


def transcript_signal(text: str) -> float:
    """Score in [-1, 1]: below 0 the transcript looks unfinished, above 0 finished, 0 no evidence."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    lowered = stripped.lower()
    words = _WORD.findall(lowered)
    if not words:
        return 0.0
    if lowered.endswith(("...", "\u2026", ",", "-", "\u2014", "\u2013", ":")):
        return INCOMPLETE_STRONG
    last = words[-1]
    last_two = " ".join(words[-2:])
    if last in _FILLERS or last_two in _FILLERS:
        return INCOMPLETE_STRONG
    if last in _CONJUNCTIONS or last in _PREPOSITIONS or last in ("a", "an", "the"):
        return INCOMPLETE_STRONG
    if last in _DANGLING:
        return INCOMPLETE_WEAK
    if _is_unfinished_number(words):
        return INCOMPLETE_WEAK
    if lowered.endswith("?"):
        return COMPLETE_QUESTION
    tail = " ".join(words[-4:])
    if any(tail == c or tail.endswith(" " + c) for c in _CLOSINGS):
        return COMPLETE_CLOSING
    if lowered.endswith((".", "!")):
        return COMPLETE_PERIOD
    return 0.0


def _is_unfinished_number(words: list[str]) -> bool:
    # Spoken digits in a run ("five five five") or a number word ending a sentence is how people read
    # out phone numbers, codes and amounts, and they pause between groups.
    last = words[-1]
    if last.isdigit() or last in _NUMBERS:
        run = 0
        for w in reversed(words):
            if w.isdigit() or w in _NUMBERS:
                run += 1
            else:
                break
        return run >= 2 or last in ("point", "dot", "dash", "hundred", "thousand", "million")
    return False


def combine(probability: float, signal: float, weight: float = 3.0) -> float:
    """Shift a turn-complete probability by a transcript signal, in log-odds space.

    ``weight`` is how many nats a signal of +-1 adds. With the default, a strong "unfinished" cue
    (-0.9) turns 0.5 into 0.06 and 0.9 into 0.38 (a sentence that ends in "to" is not finished,
    whatever its prosody), and a closing phrase (+0.8) turns 0.5 into 0.92. A signal of 0 changes
    nothing, and the result is always in (0, 1).
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if not -1.0 <= signal <= 1.0:
        raise ValueError(f"signal must be in [-1, 1], got {signal}")
    p = min(max(probability, 1e-6), 1.0 - 1e-6)
    logit = math.log(p / (1.0 - p)) + weight * signal
    return 1.0 / (1.0 + math.exp(-logit))
