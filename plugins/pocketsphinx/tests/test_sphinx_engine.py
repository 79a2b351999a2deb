"""Tests for the pocketsphinx recogniser on real (espeak-ng) speech.

Accuracy on espeak-ng speech is poor in free mode (the model was trained on human voices), so
free mode is checked loosely, while grammar and keyword modes, which command-style bots use,
are checked exactly. The phrases were picked by measurement (see the plugin README).
"""

from __future__ import annotations

import itertools

import pytest
from voiceframe_pocketsphinx import Final, Partial, SphinxRecognizer

espeak = pytest.importorskip("voiceframe_espeak", reason="speech for the tests comes from voiceframe-espeak")

PAD_S = 0.3
COMMANDS = [
    "turn on the lights",
    "turn off the lights",
    "call my mother",
    "play some music",
    "open the door",
    "what is the weather today",
    "set an alarm for seven",
    "thank you very much",
]
# Measured after priming, 140 wpm: each is spotted from 1e-30 (the weather one from 1e-40) and
# none fires on the other test phrases down to 1e-70, so 1e-50 leaves margin both ways.
KEYPHRASES = dict.fromkeys(["open the door", "good morning", "turn off the lights",
                            "what is the weather today"], 1e-50)
PRIMER = "Good afternoon. I would like to ask you something about the weather."


def speech(text: str) -> bytes:
    """16 kHz mono int16 espeak speech with 0.3 s of silence either side."""
    pad = b"\0\0" * int(16000 * PAD_S)
    return pad + espeak.speak_to_pcm(text, sample_rate=16000, rate_wpm=140) + pad


def stream(rec: SphinxRecognizer, pcm: bytes, chunk: int = 640) -> tuple[list[Partial], Final]:
    """Feed ``pcm`` in ``chunk``-byte pieces (640 = 20 ms) and collect the partials."""
    rec.start_utterance()
    partials = [p for i in range(0, len(pcm), chunk) if (p := rec.feed(pcm[i : i + chunk])) is not None]
    return partials, rec.end_utterance()


def primed(rec: SphinxRecognizer) -> tuple[SphinxRecognizer, str]:
    rec.prime(speech(PRIMER))
    return rec, rec.cmn


@pytest.fixture(scope="module")
def grammar_rec() -> tuple[SphinxRecognizer, str]:
    return primed(SphinxRecognizer(grammar=COMMANDS))


@pytest.fixture
def grammar(grammar_rec: tuple[SphinxRecognizer, str]) -> SphinxRecognizer:
    rec, cmn = grammar_rec
    rec.cmn = cmn  # every test starts from the same normalisation, whatever ran before it
    return rec


def _check_times(final: Final, pcm: bytes) -> None:
    duration = len(pcm) / 32000
    assert final.duration_s == pytest.approx(duration)
    assert all(0.0 <= w.start_s < w.end_s <= duration for w in final.words)
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in itertools.pairwise(final.words))
    # Speech lies between the two 0.3 s pads; allow a little slack at the edges.
    assert final.words[0].start_s > PAD_S - 0.1
    assert final.words[-1].end_s < duration - PAD_S + 0.15


@pytest.mark.parametrize("phrase", COMMANDS)
def test_grammar_mode_recognises_each_command_streaming(grammar: SphinxRecognizer, phrase: str) -> None:
    pcm = speech(phrase)
    _, final = stream(grammar, pcm, chunk=333)  # odd chunk size: samples split across chunks
    assert final.text == phrase
    assert [w.word for w in final.words] == phrase.split()
    assert all(w.confidence is None for w in final.words)
    _check_times(final, pcm)


@pytest.mark.parametrize("phrase", ["open the door", "set an alarm for seven"])
def test_grammar_mode_recognises_whole_utterances(phrase: str) -> None:
    rec = SphinxRecognizer(grammar=COMMANDS)  # fresh: recognize() needs no priming
    assert rec.recognize(speech(phrase)).text == phrase


def test_partials_appear_while_streaming(grammar: SphinxRecognizer) -> None:
    pcm = speech("what is the weather today")
    grammar.start_utterance()
    seen: list[tuple[int, str]] = []
    for i in range(0, len(pcm), 640):
        partial = grammar.feed(pcm[i : i + 640])
        if partial is not None:
            seen.append((i, partial.text))
    final = grammar.end_utterance()
    texts = [t for _, t in seen]
    assert len(set(texts)) >= 3 and all(a != b for a, b in itertools.pairwise(texts))
    assert seen[0][0] < len(pcm) // 2  # the first partial comes early, not at the end
    assert texts[-1] == final.text == "what is the weather today"


@pytest.fixture(scope="module")
def keywords_rec() -> tuple[SphinxRecognizer, str]:
    return primed(SphinxRecognizer(keyphrases=KEYPHRASES))


@pytest.fixture
def keywords(keywords_rec: tuple[SphinxRecognizer, str]) -> SphinxRecognizer:
    rec, cmn = keywords_rec
    rec.cmn = cmn
    return rec


@pytest.mark.parametrize("phrase", list(KEYPHRASES))
def test_keyword_mode_spots_each_phrase(keywords: SphinxRecognizer, phrase: str) -> None:
    pcm = speech(phrase)
    partials, final = stream(keywords, pcm)
    assert final.text == phrase
    assert [w.word for w in final.words] == [phrase]
    assert partials and partials[-1].text == phrase
    _check_times(final, pcm)


@pytest.mark.parametrize("text", ["play some music", "call my mother",
                                  "I will meet my sister at the station later today."])
def test_keyword_mode_ignores_other_speech(keywords: SphinxRecognizer, text: str) -> None:
    _, final = stream(keywords, speech(text))
    assert final.text == "" and final.words == []


def test_free_mode_finds_some_of_the_words() -> None:
    rec = SphinxRecognizer()
    rec.prime(speech(PRIMER))
    pcm = speech("what is the weather today")
    partials, final = stream(rec, pcm)
    found = set(final.text.split()) & {"what", "is", "the", "weather", "today"}
    assert len(found) >= 3, final.text
    assert partials
    _check_times(final, pcm)
    assert all(w.confidence is not None and 0.0 <= w.confidence <= 1.0 for w in final.words)


def test_wrong_audio_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        SphinxRecognizer(grammar=COMMANDS, sample_rate=8000)
    with pytest.raises(ValueError, match="mono"):
        SphinxRecognizer(grammar=COMMANDS, num_channels=2)


def test_bad_searches_are_rejected() -> None:
    with pytest.raises(ValueError, match="not both"):
        SphinxRecognizer(keyphrases=["stop"], grammar=["stop"])
    with pytest.raises(ValueError, match="not in the pocketsphinx dictionary: zorblax"):
        SphinxRecognizer(grammar=["open the zorblax"])
    with pytest.raises(ValueError, match="not in the pocketsphinx dictionary: zorblax"):
        SphinxRecognizer(keyphrases=["hello zorblax"])
    with pytest.raises(ValueError, match="JSGF"):
        SphinxRecognizer(grammar="turn on the lights")
    with pytest.raises(ValueError, match="threshold"):
        SphinxRecognizer(keyphrases={"stop": 2.0})


def test_utterance_lifecycle(grammar: SphinxRecognizer) -> None:
    assert not grammar.in_utterance
    with pytest.raises(RuntimeError):
        grammar.end_utterance()
    assert grammar.feed(b"\0") is None  # half a sample: buffered, and starts the utterance
    assert grammar.in_utterance
    final = grammar.end_utterance()
    assert final.duration_s == 0.0 and not grammar.in_utterance
