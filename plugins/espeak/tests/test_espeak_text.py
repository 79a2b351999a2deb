"""Pure-Python parts of the espeak plugin: word alignment and sentence splitting."""

from __future__ import annotations

from voiceframe_espeak.sentences import split_sentences
from voiceframe_espeak.words import WordTiming, align_words, is_silent

SR = 100  # one sample per 10 ms keeps the numbers readable


def test_numbers_expanding_to_several_events_keep_the_first() -> None:
    text = "is 42 ok"
    events = [(0, 0), (3, 20), (4, 50), (6, 80)]  # "42" -> "forty" at 3, "two" at 4
    assert align_words(text, events, 100, SR) == [
        WordTiming("is", 0.0, 0.2), WordTiming("42", 0.2, 0.8), WordTiming("ok", 0.8, 1.0)]


def test_events_pointing_back_into_a_number_are_ignored() -> None:
    text = "have 1234567 apples"
    events = [(0, 0), (5, 10), (6, 20), (5, 30), (6, 40), (13, 90)]
    words = align_words(text, events, 120, SR)
    assert [(w.word, w.start_s) for w in words] == [("have", 0.0), ("1234567", 0.1), ("apples", 0.9)]


def test_event_on_a_silent_dash_belongs_to_the_next_word() -> None:
    text = "hello - world"
    events = [(0, 0), (6, 40)]  # espeak points at the dash for "world"
    words = align_words(text, events, 100, SR)
    assert words == [WordTiming("hello", 0.0, 0.4), WordTiming("-", 0.4, 0.4),
                     WordTiming("world", 0.4, 1.0)]


def test_event_in_whitespace_continues_the_previous_word() -> None:
    text = "\U0001f600 smile"
    events = [(0, 0), (1, 30), (2, 60)]  # emoji -> "grinning face"; second event at the space
    assert [w.start_s for w in align_words(text, events, 100, SR)] == [0.0, 0.6]


def test_words_without_events_share_the_span_by_letters() -> None:
    text = "aa bbbb cc"
    events = [(0, 0), (8, 60)]  # nothing for "bbbb"
    words = align_words(text, events, 100, SR)
    assert [w.start_s for w in words] == [0.0, 0.2, 0.6]


def test_no_events_at_all_still_times_every_word() -> None:
    words = align_words("... --", [], 50, SR)
    assert words == [WordTiming("...", 0.0, 0.0), WordTiming("--", 0.0, 0.5)]


def test_spoken_symbols_are_not_silent() -> None:
    assert is_silent("--") and is_silent("...") and is_silent("\u201c") and is_silent("(")
    assert not is_silent("&") and not is_silent("%") and not is_silent("+") and not is_silent("a.")


def test_split_sentences_respects_abbreviations_and_initials() -> None:
    text = "Mr. J. R. Smith arrived at 5 p.m. today. Really?! \u201cYes.\u201d Next, e.g. this one"
    assert split_sentences(text) == [
        "Mr. J. R. Smith arrived at 5 p.m. today.",
        "Really?!",
        "\u201cYes.\u201d",
        "Next, e.g. this one",
    ]


def test_split_sentences_on_blank_lines_and_keeps_every_word() -> None:
    text = "  First line\nstill first\n\n  Second part.  Third!  "
    parts = split_sentences(text)
    assert parts == ["First line\nstill first", "Second part.", "Third!"]
    assert " ".join(parts).split() == text.split()
    assert split_sentences("   ") == []
