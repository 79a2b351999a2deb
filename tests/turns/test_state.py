"""Bot speaking state and mute strategies on their own."""

from __future__ import annotations

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    TextFrame,
)
from voiceframe.turns.bot_speaking import BotSpeakingState
from voiceframe.turns.mute import MuteDuringFunctionCall, MuteUntilFirstBotComplete, MuteWhileBotSpeaking


def test_bot_speaking_is_idempotent_over_both_directions() -> None:
    s = BotSpeakingState()
    assert not s.update(BotStoppedSpeakingFrame(), now=0.5)  # not speaking yet: no change
    assert s.update(BotStartedSpeakingFrame(), now=1.0) and s.speaking and s.since == 1.0
    assert not s.update(BotStartedSpeakingFrame(), now=1.1)  # the copy from the other direction
    assert s.update(BotStoppedSpeakingFrame(), now=2.0) and not s.speaking
    assert not s.update(BotStoppedSpeakingFrame(), now=2.1)
    assert s.messages_finished == 1 and s.since == 2.0
    assert not s.update(TextFrame(text="x"))


def test_mute_strategies() -> None:
    first = MuteUntilFirstBotComplete()
    assert first.muted
    first.update(BotStartedSpeakingFrame())
    assert first.muted
    first.update(BotStoppedSpeakingFrame())
    assert not first.muted
    first.update(BotStartedSpeakingFrame())
    assert not first.muted  # only the first message

    calls = MuteDuringFunctionCall()
    calls.update(FunctionCallInProgressFrame(tool_call_id="a"))
    calls.update(FunctionCallInProgressFrame(tool_call_id="b"))
    calls.update(FunctionCallResultFrame(tool_call_id="a"))
    assert calls.muted  # b still runs
    calls.update(FunctionCallCancelFrame(tool_call_id="b"))
    assert not calls.muted

    speaking = MuteWhileBotSpeaking()
    speaking.update(BotStartedSpeakingFrame())
    assert speaking.muted
    speaking.update(BotStoppedSpeakingFrame())
    assert not speaking.muted
