"""Intent rules: which words in the user's message lead to which reply or tool call."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """If every word group in ``when`` has a word in the message (any of ``a|b``), answer.

    The answer is ``reply`` (a text), or a ``tool`` call with ``arguments`` and then ``after_tool``, a
    template filled with the tool result's fields.
    """

    name: str
    when: tuple[str, ...]
    reply: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    after_tool: str = ""
    #: phrases a recogniser's grammar can use to hear this intent reliably
    examples: tuple[str, ...] = ()


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "greeting",
        ("hello|hi|hey|morning",),
        reply="Hello! I can tell you the time, the weather, or a joke. What would you like?",
        examples=("hello", "good morning"),
    ),
    Rule(
        "time",
        ("time|clock",),
        tool="get_time",
        after_tool="It is {time}.",
        examples=("what time is it",),
    ),
    Rule(
        "weather",
        ("weather|forecast|rain|sunny",),
        tool="get_weather",
        arguments={"city": "Paris"},
        after_tool="In {city} it is {conditions} and {temperature} degrees.",
        examples=("what is the weather", "what is the weather today"),
    ),
    Rule(
        "joke",
        ("joke|funny",),
        reply="Why did the robot go on holiday? It needed to recharge its batteries.",
        examples=("tell me a joke",),
    ),
    Rule(
        "goodbye",
        ("bye|goodbye|stop|thanks|thank",),
        reply="Goodbye, and thanks for talking to me.",
        examples=("goodbye", "thank you"),
    ),
)

FALLBACK = "Sorry, I did not catch that. You can ask me for the time, the weather, or a joke."

_word = re.compile(r"[a-z']+")


def words(text: str) -> set[str]:
    return set(_word.findall(text.lower()))


def match_rule(text: str, rules: tuple[Rule, ...] = DEFAULT_RULES) -> Rule | None:
    """The first rule whose every word group has a word in ``text``."""
    found = words(text)
    for rule in rules:
        if all(found & set(group.split("|")) for group in rule.when):
            return rule
    return None


def grammar_phrases(rules: tuple[Rule, ...] = DEFAULT_RULES) -> list[str]:
    """Every example phrase, for a speech recogniser's grammar."""
    return [p for r in rules for p in r.examples]
