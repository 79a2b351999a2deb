"""Scenario tests: the context holds exactly what the user heard, whenever they interrupt.

A real output transport plays the fake TTS's audio in real time on the virtual clock; the ground
truth ("heard") is computed from what the TTS generated and what the transport wrote to its sink.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.context.helpers import make_bot, tokens
from voiceframe.context.llm_context import join_words
from voiceframe.frames import InterruptionFrame, TranscriptionFrame, TTSSpeakFrame
from voiceframe.testing.fakes import FakePause, FakeTTS
from voiceframe.testing.run import Wait

FIRST = "The capital of France is Paris."
SECOND = "It is lovely in spring."
# sentence one is spoken from 0.40 to 2.30 s; the LLM stalls, sentence two plays from ~3.52 to ~4.97 s
SCRIPT = [*tokens("The capital of France is Paris. "), FakePause(3.0), *tokens(SECOND)]


@pytest.mark.parametrize(
    ("at", "expected", "audible"),
    [
        (0.1, "", False),  # before the LLM answered
        (0.35, "", False),  # before the first word played (its audio arrives at 0.40)
        (0.5, "The", True),  # mid-word: its start was heard
        (1.2, "The capital of", True),  # mid-sentence
        (2.9, FIRST, False),  # between sentences (the bot is silent, the LLM still generating)
        (4.7, f"{FIRST} {SECOND}", True),  # during the last word
    ],
)
async def test_interrupting_anywhere_commits_exactly_the_heard_words(
    at: float, expected: str, audible: bool
) -> None:
    bot = make_bot([SCRIPT])
    await bot.play([TranscriptionFrame(text="Tell me about Paris."), Wait(at), InterruptionFrame()])
    t = bot.out.interruptions[0]
    assert t == pytest.approx(at)
    assert bot.heard(t) == expected
    assistant = [m for m in bot.context.messages if m["role"] == "assistant"]
    if not expected:
        assert assistant == []  # nothing heard, nothing committed
    else:
        assert [m["content"] for m in assistant] == [expected]
        assert bot.context.is_interrupted(assistant[0])
    # the transport stopped at once (what the client still plays is under one chunk) and, if the bot was
    # audible or had audio queued, told the client to clear; a silent bot has nothing to clear
    assert all(w <= t for w, _ in bot.out.written)
    assert all(w + c.duration - t <= 0.02 + 1e-9 for w, c in bot.out.written)
    assert bot.out.clears == ([t] if audible else [])
    bot.assert_valid()


async def test_after_the_end_the_whole_response_is_committed_and_not_marked_interrupted() -> None:
    bot = make_bot([SCRIPT])
    await bot.play([TranscriptionFrame(text="Tell me about Paris."), Wait(6.0), InterruptionFrame()])
    assistant = [m for m in bot.context.messages if m["role"] == "assistant"]
    assert [m["content"] for m in assistant] == [f"{FIRST} {SECOND}"]
    assert not bot.context.is_interrupted(assistant[0])


async def test_words_are_committed_as_they_are_heard_not_before() -> None:
    bot = make_bot([SCRIPT])
    await bot.play([TranscriptionFrame(text="Tell me about Paris."), Wait(6.0)])
    words = f"{FIRST} {SECOND}".split()
    assert [w for _, w in bot.out.words] == words
    # each word was released exactly when playout reached its first sample, not a moment earlier
    for i, (t, _) in enumerate(bot.out.words):
        assert len(bot.heard(t + 1e-9).split()) == i + 1
        assert len(bot.heard(t - 1e-6).split()) == i


async def test_a_new_turn_after_an_interruption_never_contains_words_of_the_old_one() -> None:
    bot = make_bot([[*tokens(f"{FIRST} {SECOND}")], [*tokens("Sure, what else?")]])
    await bot.play(
        [
            TranscriptionFrame(text="Tell me about Paris."),
            Wait(1.2),
            InterruptionFrame(),
            TranscriptionFrame(text="Stop. Something else."),
            Wait(5.0),
        ]
    )
    assistant = bot.assistant_texts()
    assert assistant == ["The capital of", "Sure, what else?"]
    roles = [m["role"] for m in bot.context.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    bot.assert_valid()


async def test_overlapping_responses_never_merge() -> None:
    # two user turns in quick succession: two responses are generated, their audio queues back to back
    bot = make_bot([[*tokens("First answer here.")], [*tokens("Second answer now.")]])
    await bot.play([TranscriptionFrame(text="One"), Wait(0.05), TranscriptionFrame(text="Two"), Wait(6.0)])
    assert bot.assistant_texts() == ["First answer here.", "Second answer now."]
    assert not any(bot.context.is_interrupted(m) for m in bot.context.messages)


async def test_greeting_is_committed_fully_when_not_interrupted() -> None:
    bot = make_bot([])
    await bot.play([TTSSpeakFrame(text="Hello! I am your travel agent. How can I help?"), Wait(5.0)])
    assert bot.assistant_texts() == ["Hello! I am your travel agent. How can I help?"]


async def test_greeting_is_committed_partially_when_interrupted() -> None:
    bot = make_bot([])
    await bot.play(
        [TTSSpeakFrame(text="Hello! I am your travel agent. How can I help?"), Wait(1.0), InterruptionFrame()]
    )
    t = bot.out.interruptions[0]
    assert bot.assistant_texts() == [bot.heard(t)] == ["Hello! I am your"]
    message = bot.context.messages[-1]
    assert bot.context.is_interrupted(message)


async def test_tts_without_word_timestamps_gets_estimated_times() -> None:
    tts = FakeTTS(timestamps=False)
    bot = make_bot([[*tokens(f"{FIRST} {SECOND}")]], tts=tts)
    await bot.play([TranscriptionFrame(text="Paris?"), Wait(1.5), InterruptionFrame()])
    committed = bot.assistant_texts()[0]
    full = f"{FIRST} {SECOND}"
    assert full.startswith(committed) and 0 < len(committed) < len(full)
    # estimates spread words over the audio by characters: within a word or two of the truth
    truth = bot.heard(bot.out.interruptions[0]).split()
    assert abs(len(committed.split()) - len(truth)) <= 2


# ------------------------------------------------------------------------------------ property


WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "hex",
    "jovial",
    "kings",
]


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    durations=st.lists(st.floats(0.05, 0.6), min_size=len(WORDS), max_size=len(WORDS)),
    at=st.floats(0.0, 8.0),
    words_first=st.booleans(),
)
async def test_committed_text_is_the_played_words_and_a_prefix_of_the_generated_text(
    durations: list[float], at: float, words_first: bool
) -> None:
    table = dict(zip(WORDS, durations, strict=True))
    tts = FakeTTS(word_duration=lambda w: table[w.strip(".,")], words_first=words_first, audio_chunk=0.13)
    text = " ".join(WORDS[:8]) + ". " + " ".join(WORDS[8:]) + "."
    bot = make_bot([tokens(text)], tts=tts)
    await bot.play([TranscriptionFrame(text="Say something."), Wait(at), InterruptionFrame()])
    committed = "".join(bot.assistant_texts())
    played = ""
    for _, word in bot.out.words:
        played = join_words(played, word)
    assert text.startswith(committed)
    assert committed == played == bot.heard(bot.out.interruptions[0])
