"""Stage attribution on synthetic timelines whose answers are known by construction."""

from __future__ import annotations

import pytest

from voiceframe.bench.harness import ModelTimes, build_timelines
from voiceframe.bench.stages import STAGES, TurnTimeline, split
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    LLMContextFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)


def _timeline() -> TurnTimeline:
    # speech ends at 10.0; VAD stops at 10.6 (stop_secs 0.6); turn ends 10.602; final 10.650;
    # context 10.651; first token 10.851 (LLM busy 10.652-10.851); sentence complete and TTS called at
    # 10.900 (LLM busy until 10.899); TTS busy 10.901-10.905; first audio 10.906; bot speaks 10.907
    return TurnTimeline(
        vad_stop=10.6,
        stop_secs=0.6,
        user_stopped=10.602,
        transcript=10.650,
        context=10.651,
        first_token=10.851,
        first_audio=10.906,
        bot_started=10.907,
        tts_call=10.900,
        stt=[(10.600, 10.649)],  # STT ran from the VAD stop; only 10.602-10.649 is on the path
        llm=[(10.652, 10.851), (10.852, 10.899), (10.95, 11.2)],  # the last one is after first audio
        tts=[(10.901, 10.905), (10.95, 10.96)],
    )


def test_stages_add_up_and_match_the_construction() -> None:
    s = split(_timeline())
    assert s.total == pytest.approx(0.907)
    assert sum(getattr(s, k) for k in STAGES) == pytest.approx(s.total)
    assert s.endpointing == pytest.approx(0.602)
    assert s.stt_final == pytest.approx(0.048)
    assert s.aggregation == pytest.approx(0.001)
    assert s.llm_first_token == pytest.approx(0.200)
    assert s.tts_first_audio == pytest.approx(0.055)
    assert s.transport == pytest.approx(0.001)
    # model time on the path: STT 0.047 + LLM 0.199 + 0.047 + TTS 0.004
    assert s.model == pytest.approx(0.297)
    # framework: turn decision 0.002, STT hand-off 0.001, aggregation 0.001, LLM gaps 3 x 0.001,
    # TTS call to work 0.001, TTS hand-off 0.001, transport 0.001
    assert s.framework_added == pytest.approx(0.010)
    per_stage = (s.fw_endpointing, s.fw_stt_final, s.aggregation, s.fw_llm_first_token, s.fw_tts_first_audio)
    assert per_stage == pytest.approx((0.002, 0.001, 0.001, 0.001, 0.004))
    assert sum(per_stage) + s.transport == pytest.approx(s.framework_added)


def test_model_time_outside_the_path_is_not_subtracted() -> None:
    t = _timeline()
    t.stt = [(9.0, 10.6)]  # STT that finished before the turn ended held nothing up
    s = split(t)
    assert s.model == pytest.approx(0.297 - 0.047)
    assert s.framework_added == pytest.approx(0.010 + 0.047)


def test_transcript_before_turn_end_and_missing_tts_call() -> None:
    t = TurnTimeline(
        vad_stop=1.2, stop_secs=0.2, user_stopped=1.3, transcript=1.1, context=1.3,
        first_token=1.5, first_audio=1.5, bot_started=1.52, llm=[(1.3, 1.5)],
    )  # fmt: skip
    s = split(t)
    assert s.stt_final == 0.0 and s.aggregation == 0.0
    assert s.endpointing == pytest.approx(0.3)  # 0.2 configured + 0.1 strategy (framework here)
    assert s.total == pytest.approx(0.52)
    assert s.framework_added == pytest.approx(0.52 - 0.2 - 0.2)  # 0.1 decision + 0.02 transport


def test_build_timelines_from_events() -> None:
    stop = VADUserStoppedSpeakingFrame(stop_secs=0.6)
    events = [
        (0.5, TTSAudioRawFrame(audio=b"\0\0", sample_rate=16000)),  # the greeting: no user turn yet
        (1.0, UserStartedSpeakingFrame()),
        (2.6, stop),
        (2.6, UserStoppedSpeakingFrame()),
        (2.62, TranscriptionFrame(text="hello")),
        (2.62, LLMContextFrame()),
        (2.82, LLMTextFrame(text="Hi")),
        (2.85, TTSAudioRawFrame(audio=b"\0\0", sample_rate=16000)),
        (2.85, BotStartedSpeakingFrame()),
        (5.0, UserStartedSpeakingFrame()),  # a second turn the bot never answers
    ]
    times = ModelTimes(
        stt=[(2.6, 2.62)], llm=[(2.62, 2.82), (2.82, 2.85)], tts_calls=[2.85], tts=[(2.85, 2.85)]
    )
    (t,), unanswered = build_timelines(events, times)
    assert unanswered == 1
    assert (t.speech_end, t.user_stopped, t.transcript, t.context) == (pytest.approx(2.0), 2.6, 2.62, 2.62)
    s = split(t)
    assert s.total == pytest.approx(0.85)
    assert s.framework_added == pytest.approx(0.0)
