"""UserTurnController on the virtual clock: turn start/end, barge-in, backchannels, min words, mute,
late finals.

Most tests script the VAD and STT frames so each rule is seen alone; the barge-in timing test runs real
espeak speech through the VAD.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.turns.helpers import Item, audio_frames, events, kinds
from voiceframe.audio import generators as gen
from voiceframe.audio.pcm import Int16Array
from voiceframe.audio.vad.analyzer import VADParams
from voiceframe.audio.vad.processor import VADProcessor
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    MetricsFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.processor import UPSTREAM
from voiceframe.task import PipelineParams
from voiceframe.testing.run import Upstream, Wait, run_processor
from voiceframe.turns.controller import DEFAULT_BACKCHANNELS, UserTurnController, is_backchannel, word_count
from voiceframe.turns.mute import MuteDuringFunctionCall, MuteUntilFirstBotComplete, MuteWhileBotSpeaking
from voiceframe.turns.strategies import TranscriptStrategy

Speak = Callable[..., Int16Array]
VAD_START = VADUserStartedSpeakingFrame
VAD_STOP = VADUserStoppedSpeakingFrame


def bot_starts() -> Upstream:
    # the output transport (below the controller) pushes bot speaking frames upstream
    return Upstream(BotStartedSpeakingFrame())


def bot_stops() -> Upstream:
    return Upstream(BotStoppedSpeakingFrame())


async def test_vad_silence_turn_starts_and_ends_with_the_vad() -> None:
    ctl = UserTurnController()
    run = await run_processor(ctl, [Wait(1.0), VAD_START(), Wait(2.0), VAD_STOP()])
    assert events(run) == [
        ("VADUserStarted", 1.0),
        ("Interruption", 1.0),
        ("UserStarted", 1.0),
        ("VADUserStopped", 3.0),
        ("UserStopped", 3.0),
    ]
    # the turn frames go upstream too (input transport, client UI), with the interruption
    up = [type(f) for f in run.upstream if not isinstance(f, MetricsFrame)]
    assert up == [InterruptionFrame, UserStartedSpeakingFrame, UserStoppedSpeakingFrame]
    (metrics,) = run.of_type(MetricsFrame)
    assert metrics.data[0].kind == "turn" and metrics.data[0].value == 0.0


async def test_no_interruption_when_the_session_disallows_it() -> None:
    run = await run_processor(
        UserTurnController(),
        [Wait(0), VAD_START(), VAD_STOP()],
        params=PipelineParams(allow_interruptions=False),
    )
    assert kinds(run) == ["VADUserStarted", "UserStarted", "VADUserStopped", "UserStopped"]


async def test_barge_in_on_real_speech_within_start_secs_plus_one_frame(speech: Speak) -> None:
    voice = speech("Wait, stop, that is not what I asked for.")
    lead = 1.0
    x = np.concatenate([gen.silence(lead), voice, gen.silence(1.0)])
    vad = VADProcessor(VADParams(start_secs=0.2, stop_secs=0.8))
    ctl = UserTurnController()
    items: list[Item] = [bot_starts(), *audio_frames(x)]
    run = await run_processor(Pipeline([vad, ctl]), items)
    assert ctl.bot.speaking
    timeline = dict((k, t) for k, t in events(run) if k in ("VADUserStarted", "Interruption"))
    # t=0 is the first audio frame; audio of frame k arrives at 0.02*k
    after_vad = timeline["Interruption"] - timeline["VADUserStarted"]
    after_onset = timeline["Interruption"] - lead
    print(
        f"barge-in: interruption {after_onset:.3f} s after the true onset, {after_vad:.3f} s after VAD start"
    )
    assert after_vad == 0.0
    # start_secs + one 20 ms frame + Silero's onset lag on espeak (<= 0.13 s measured, FACTS.md)
    assert 0.19 <= after_onset <= 0.2 + 0.02 + 0.13
    assert kinds(run)[:3] == ["VADUserStarted", "Interruption", "UserStarted"]


@pytest.mark.parametrize("configured", [True, False])
async def test_backchannel_while_bot_speaks(configured: bool) -> None:
    ctl = UserTurnController(backchannels=DEFAULT_BACKCHANNELS if configured else ())
    run = await run_processor(
        ctl,
        [
            bot_starts(),
            Wait(1.0),
            VAD_START(),
            Wait(0.2),
            InterimTranscriptionFrame(text="mm"),
            Wait(0.2),
            VAD_STOP(),
            Wait(0.3),
            TranscriptionFrame(text="Mm-hmm."),
            Wait(2.0),
        ],
    )
    if configured:
        assert kinds(run) == ["VADUserStarted", "VADUserStopped"]  # no turn, no interruption
        assert run.of_type(TranscriptionFrame) == []  # "mm-hmm" does not become a user message
    else:
        assert kinds(run) == [
            "VADUserStarted",
            "Interruption",
            "UserStarted",
            "VADUserStopped",
            "UserStopped",
        ]
        assert [f.text for f in run.of_type(TranscriptionFrame)] == ["Mm-hmm."]  # a late final


async def test_real_words_interrupt_even_with_backchannels_configured() -> None:
    ctl = UserTurnController(backchannels=DEFAULT_BACKCHANNELS)
    run = await run_processor(
        ctl,
        [
            bot_starts(),
            VAD_START(),
            Wait(0.3),
            InterimTranscriptionFrame(text="yeah"),
            Wait(0.2),
            InterimTranscriptionFrame(text="yeah but wait"),
            Wait(0.5),
            VAD_STOP(),
        ],
    )
    assert events(run)[:3] == [("VADUserStarted", 0.0), ("Interruption", 0.5), ("UserStarted", 0.5)]
    assert [f.text for f in run.of_type(InterimTranscriptionFrame)] == ["yeah but wait"]


async def test_min_words_respected_while_bot_speaks() -> None:
    ctl = UserTurnController(min_words=3)
    items: list[Item] = [bot_starts(), VAD_START()]
    for i, text in enumerate(["stop", "stop it", "stop it now"]):
        items += [Wait(0.25), InterimTranscriptionFrame(text=text, user_id=str(i))]
    items += [Wait(0.5), VAD_STOP()]
    run = await run_processor(ctl, items)
    assert events(run)[:3] == [("VADUserStarted", 0.0), ("Interruption", 0.75), ("UserStarted", 0.75)]


async def test_min_words_not_reached_is_no_turn_and_bot_silent_needs_no_words() -> None:
    ctl = UserTurnController(min_words=3)
    run = await run_processor(
        ctl,
        [
            bot_starts(),
            VAD_START(),
            Wait(0.3),
            TranscriptionFrame(text="no no"),
            VAD_STOP(),
            Wait(2.0),
            bot_stops(),
            Wait(1.0),
            VAD_START(),  # the bot is silent: any speech is a turn
            Wait(0.5),
            VAD_STOP(),
        ],
    )
    assert kinds(run) == [
        "VADUserStarted",
        "VADUserStopped",
        "VADUserStarted",
        "Interruption",
        "UserStarted",
        "VADUserStopped",
        "UserStopped",
    ]


async def test_late_final_that_qualifies_interrupts_after_vad_stop() -> None:
    ctl = UserTurnController(min_words=2)
    run = await run_processor(
        ctl,
        [bot_starts(), VAD_START(), Wait(0.5), VAD_STOP(), Wait(0.3), TranscriptionFrame(text="hold on")],
    )
    assert events(run)[2:] == [("Interruption", 0.8), ("UserStarted", 0.8), ("UserStopped", 0.8)]


async def test_bot_stops_while_user_still_talking_makes_it_a_turn() -> None:
    ctl = UserTurnController(min_words=5)
    run = await run_processor(ctl, [bot_starts(), VAD_START(), Wait(0.4), bot_stops(), Wait(0.4), VAD_STOP()])
    assert events(run)[1:] == [
        ("Interruption", 0.4),
        ("UserStarted", 0.4),
        ("VADUserStopped", 0.8),
        ("UserStopped", 0.8),
    ]


async def test_transcript_without_vad_while_bot_speaks_never_interrupts() -> None:
    # e.g. the bot's own voice leaking back into the microphone and transcribed
    run = await run_processor(UserTurnController(), [bot_starts(), TranscriptionFrame(text="how can I help")])
    assert kinds(run) == []


async def test_late_final_belongs_to_the_turn_that_ended_and_vad_missed_speech_is_a_turn() -> None:
    ctl = UserTurnController(late_final_secs=1.0)
    run = await run_processor(
        ctl,
        [
            VAD_START(),
            Wait(1.0),
            VAD_STOP(),
            Wait(0.4),
            TranscriptionFrame(text="I'd like a pizza."),  # late final: the turn already ended
            Wait(3.0),
            TranscriptionFrame(text="Yes."),  # too short for the VAD's start_secs, but the STT heard it
        ],
    )
    assert events(run) == [
        ("VADUserStarted", 0.0),
        ("Interruption", 0.0),
        ("UserStarted", 0.0),
        ("VADUserStopped", 1.0),
        ("UserStopped", 1.0),
        ("Interruption", 4.4),
        ("UserStarted", 4.4),
        ("UserStopped", 4.4),
    ]
    texts = [(type(f).__name__, getattr(f, "text", "")) for f in run.downstream if hasattr(f, "text")]
    assert texts == [("TranscriptionFrame", "I'd like a pizza."), ("TranscriptionFrame", "Yes.")]
    # order: the started frame comes before the transcript it carries, the stop after it
    names = [type(f).__name__ for f in run.downstream if not isinstance(f, MetricsFrame)][-4:]
    assert names[1:] == ["UserStartedSpeakingFrame", "TranscriptionFrame", "UserStoppedSpeakingFrame"]


async def test_mute_until_first_bot_message_finished() -> None:
    ctl = UserTurnController(mute=[MuteUntilFirstBotComplete()])
    run = await run_processor(
        ctl,
        [
            bot_starts(),
            VAD_START(),
            Wait(0.5),
            TranscriptionFrame(text="hello?"),
            VAD_STOP(),
            Wait(1.0),
            bot_stops(),
            Wait(2.0),
            VAD_START(),
            Wait(0.5),
            VAD_STOP(),
        ],
    )
    assert kinds(run) == [
        "VADUserStarted",
        "VADUserStopped",
        "VADUserStarted",
        "Interruption",
        "UserStarted",
        "VADUserStopped",
        "UserStopped",
    ]
    assert run.of_type(TranscriptionFrame) == []  # muted speech is dropped


async def test_mute_during_function_call_from_in_progress_to_result() -> None:
    ctl = UserTurnController(mute=[MuteDuringFunctionCall()])
    run = await run_processor(
        ctl,
        [
            Upstream(FunctionCallInProgressFrame(tool_call_id="c1", function_name="weather")),
            Wait(0.01),  # a control frame is queued in order; let it arrive before the system frames
            VAD_START(),
            Wait(0.5),
            VAD_STOP(),
            Upstream(FunctionCallResultFrame(tool_call_id="c1", result="sunny")),
            Wait(0.01),
            VAD_START(),
            Wait(0.5),
            VAD_STOP(),
        ],
    )
    assert kinds(run)[2:] == [
        "VADUserStarted",
        "Interruption",
        "UserStarted",
        "VADUserStopped",
        "UserStopped",
    ]
    assert kinds(run)[:2] == ["VADUserStarted", "VADUserStopped"]
    # function-call frames pass through in their own direction
    assert [type(f) for f in run.upstream][:2] == [FunctionCallInProgressFrame, FunctionCallResultFrame]


async def test_mute_while_bot_speaking_means_no_barge_in() -> None:
    ctl = UserTurnController(mute=[MuteWhileBotSpeaking()])
    run = await run_processor(ctl, [bot_starts(), VAD_START(), Wait(0.5), VAD_STOP()])
    assert kinds(run) == ["VADUserStarted", "VADUserStopped"]


async def test_transcript_strategy_waits_for_a_finished_transcript() -> None:
    ctl = UserTurnController(strategy=TranscriptStrategy(max_wait=3.0, transcript_wait=1.0))
    run = await run_processor(
        ctl,
        [
            VAD_START(),
            Wait(1.0),
            VAD_STOP(),  # t=1.0: no transcript yet -> wait up to 1 s for one
            Wait(0.3),
            TranscriptionFrame(text="I want to fly to"),  # t=1.3: unfinished -> wait 3 s from the stop
            Wait(1.0),
            VAD_START(),  # t=2.3: the user goes on, same turn
            Wait(1.0),
            VAD_STOP(),  # t=3.3: the last words are not transcribed yet -> wait
            Wait(0.25),
            TranscriptionFrame(text="Paris on Monday."),  # t=3.55: finished -> end now
            Wait(1.0),
            VAD_START(),
            Wait(0.5),
            VAD_STOP(),  # t=5.05, no transcript ever comes: ends transcript_wait later
            Wait(2.0),
        ],
    )
    stops = [t for k, t in events(run) if k == "UserStopped"]
    assert stops == [3.55, 6.05]
    reasons = [d.verdict.reason.split(" (")[0] for d in ctl.decisions]
    assert reasons == [
        "transcript: waiting for a final",
        "transcript: unfinished",
        "transcript: waiting for a final",
        "transcript: finished",
        "transcript: waiting for a final",
    ]


def test_word_count_and_backchannels() -> None:
    assert word_count("") == 0 and word_count("uh-huh, okay!") == 2
    assert is_backchannel("Yeah, yeah.", DEFAULT_BACKCHANNELS)
    assert is_backchannel("I see", DEFAULT_BACKCHANNELS)
    assert not is_backchannel("yeah I see the problem", DEFAULT_BACKCHANNELS)
    assert not is_backchannel("mm-hmm", ())
    with pytest.raises(ValueError):
        UserTurnController(min_words=-1)


async def test_upstream_transcripts_pass_untouched() -> None:
    run = await run_processor(UserTurnController(), [Upstream(TranscriptionFrame(text="x"))])
    assert [f.text for f in run.of_type(TranscriptionFrame, UPSTREAM)] == ["x"]
    assert kinds(run) == []
