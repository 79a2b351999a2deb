"""A small labelled set of user turns for end-of-turn tests and benchmarks: (text, complete?).

Punctuation is what a punctuating STT would give. Incomplete ones end in a preposition, article,
conjunction, filler or an unfinished number; complete ones are whole sentences, questions or closings.
"""

from __future__ import annotations

LABELLED: list[tuple[str, bool]] = [
    ("I need to talk to someone about my bill.", True),
    ("I need to talk to someone about my", False),
    ("Set an alarm for seven in the morning.", True),
    ("So the thing is, um", False),
    ("Can you book me a table for two tonight?", True),
    ("Can you book me a table for", False),
    ("What is the weather like in Paris?", True),
    ("I would like to order a pizza with", False),
    ("Thanks, that's all for today.", True),
    ("My phone number is five five five", False),
    ("Yes.", True),
    ("I want to cancel my", False),
    ("Please call my sister at six.", True),
    ("The meeting is at", False),
    ("No, thank you.", True),
    ("I was wondering if", False),
    ("It costs twenty dollars.", True),
    ("Let me think about it and", False),
]
