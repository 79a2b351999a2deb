"""Sentence aggregation: LLM tokens -> speakable chunks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceframe.text.sentence_aggregator import SentenceAggregator


def chunks(text: str, *, step: int = 3, **kw: object) -> list[str]:
    agg = SentenceAggregator(**kw)  # type: ignore[arg-type]
    out: list[str] = []
    for i in range(0, len(text), step):
        out += agg.add(text[i : i + step])
    rest = agg.flush()
    return out + ([rest] if rest else [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        (
            "Dr. Smith and Mr. Jones met at 9 a.m. today. Bye.",
            ["Dr. Smith and Mr. Jones met at 9 a.m. today.", "Bye."],
        ),
        ("Pi is 3.14159 roughly. It costs $4.50 now.", ["Pi is 3.14159 roughly.", "It costs $4.50 now."]),
        (
            "Write to ann.lee@example.com or see www.example.org today. Thanks.",
            ["Write to ann.lee@example.com or see www.example.org today.", "Thanks."],
        ),
        ("You need:\n1. Milk\n2. Eggs\n3. Bread", ["You need:", "1. Milk", "2. Eggs", "3. Bread"]),
        ("J. R. R. Tolkien wrote it. Really.", ["J. R. R. Tolkien wrote it.", "Really."]),
        ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
        ("Wait... what? Okay.", ["Wait...", "what?", "Okay."]),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert chunks(text, first_clause_min_chars=None) == expected


def test_first_clause_is_sent_early_for_latency_only_once() -> None:
    text = "Well, the capital of France, as you may know, is Paris. It is big, old, and lovely."
    assert chunks(text) == [
        "Well, the capital of France,",
        "as you may know, is Paris.",
        "It is big, old, and lovely.",
    ]


def test_short_sentences_can_be_joined_and_reset_forgets() -> None:
    assert chunks("Ok. Sure. That works for me.", min_chars=12, first_clause_min_chars=None) == [
        "Ok. Sure. That works for me."
    ]
    agg = SentenceAggregator()
    agg.add("Half a sent")
    agg.reset()
    assert agg.add("New one. ") == ["New one."]
    assert agg.flush() is None


@settings(max_examples=50, derandomize=True)
@given(
    st.lists(
        st.sampled_from(["Hi", "there", "Dr.", "3.5", "ok.", "yes!", "a,", "\n", "1.", "x@y.com"]),
        max_size=30,
    ),
    st.integers(1, 7),
)
def test_no_text_is_lost_or_reordered(words: list[str], step: int) -> None:
    text = " ".join(words)
    out = chunks(text, step=step)
    assert "".join(out).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
