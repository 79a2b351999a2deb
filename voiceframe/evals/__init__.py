"""Evals: scripted multi-turn conversations against a bot, with expectations and pass rates.

``voiceframe eval scenarios.yaml`` (see :mod:`voiceframe.evals.scenario` for the file format) speaks
each user turn offline with espeak (or plays a WAV file), runs the bot on the file transport's output
and the virtual clock, and checks what happened: what was transcribed, what the bot said, which
functions it called with which arguments, whether a barge-in cut the bot off cleanly, and each turn's
voice-to-voice latency. Every scenario runs ``runs`` times with different voices, speeds and noise, and
the report gives a pass rate per expectation: voice agents are judged on how often they get it right.
"""

from voiceframe.evals.runner import EvalReport, ExpectationResult, RunResult, run_evals
from voiceframe.evals.scenario import EvalSuite, Expectation, Scenario, UserTurn, Variation, load_suite

__all__ = [
    "EvalReport",
    "EvalSuite",
    "Expectation",
    "ExpectationResult",
    "RunResult",
    "Scenario",
    "UserTurn",
    "Variation",
    "load_suite",
    "run_evals",
]
