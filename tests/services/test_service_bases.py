"""TTS, LLM and STT base classes with fake providers, on the virtual clock."""

from __future__ import annotations

import pytest

from tests.services.fakes import (
    FakeScriptedLLM,
    FakeSegmentSTT,
    FakeSettingsTTS,
    FakeToneTTS,
    text_events,
    tool_events,
)
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    FunctionCallInProgressFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    SettingsScope,
    StartFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UpdateSettingsFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.task import PipelineParams
from voiceframe.testing import Wait, run_processor

OUT16K = PipelineParams(audio_out_sample_rate=16000)


def kinds(frames: list[Frame]) -> list[str]:
    return [type(f).__name__ for f in frames]


async def test_tts_streams_a_response_as_one_context_with_words_on_its_timeline() -> None:
    tts = FakeToneTTS()
    result = await run_processor(
        tts,
        [
            LLMFullResponseStartFrame(),
            LLMTextFrame(text="Hello there. "),
            LLMTextFrame(text="How are"),
            LLMTextFrame(text=" you?"),
            LLMFullResponseEndFrame(),
        ],
        params=OUT16K,
    )
    assert tts.requests == ["Hello there.", "How are you?"]
    started = result.of_type(TTSStartedFrame)
    stopped = result.of_type(TTSStoppedFrame)
    assert len(started) == len(stopped) == 1 and started[0].context_id == stopped[0].context_id
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there.", "How", "are", "you?"]
    # second sentence's words continue the context's timeline after the first sentence's audio
    assert [w.pts for w in words] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    audio = result.of_type(TTSAudioRawFrame)
    assert sum(a.duration for a in audio) == pytest.approx(0.5)
    assert all(a.context_id == started[0].context_id and a.sample_rate == 16000 for a in audio)
    order = kinds(result.downstream)
    assert order.index("LLMFullResponseStartFrame") < order.index("TTSStartedFrame")
    assert order.index("TTSStoppedFrame") < order.index("LLMFullResponseEndFrame")
    ttfb = [d for m in result.of_type(MetricsFrame) for d in m.data if d.kind == "ttfb"]
    assert ttfb and ttfb[0].value == pytest.approx(0.05)


async def test_tts_speak_frame_is_its_own_context_and_audio_is_resampled() -> None:
    tts = FakeToneTTS(rate=22050)
    result = await run_processor(tts, [TTSSpeakFrame(text="Welcome to voiceframe")], params=OUT16K)
    assert len(result.of_type(TTSStartedFrame)) == 1 and len(result.of_type(TTSStoppedFrame)) == 1
    audio = result.of_type(TTSAudioRawFrame)
    assert all(a.sample_rate == 16000 for a in audio)
    assert sum(a.duration for a in audio) == pytest.approx(0.3, abs=0.002)  # nothing lost in the resampler


async def test_tts_without_timestamps_estimates_word_times_from_audio_and_characters() -> None:
    tts = FakeToneTTS(timestamps=False)
    result = await run_processor(tts, [TTSSpeakFrame(text="a bb cccc")], params=OUT16K)
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["a", "bb", "cccc"]
    # 0.3 s spread by (len + 1): 2, 3, 5 of 10
    assert [w.pts for w in words] == pytest.approx([0.0, 0.06, 0.15])


async def test_tts_interruption_cancels_synthesis_and_forgets_the_buffer() -> None:
    tts = FakeToneTTS(latency=0.5)
    result = await run_processor(
        tts,
        [
            LLMFullResponseStartFrame(),
            LLMTextFrame(text="One two three four. Five"),
            Wait(1.2),
            InterruptionFrame(),
            LLMFullResponseStartFrame(),
            LLMTextFrame(text="New turn."),
            LLMFullResponseEndFrame(),
        ],
        params=OUT16K,
    )
    assert tts.cancelled == ["One two three four."]
    assert tts.requests == ["One two three four.", "New turn."]  # "Five" never spoken
    words = [w.text for w in result.of_type(TTSTextFrame)]
    assert words == ["One", "two", "New", "turn."]


async def test_tts_settings_update_at_run_time_and_bad_update_is_reported() -> None:
    tts = FakeSettingsTTS()
    result = await run_processor(
        tts,
        [
            UpdateSettingsFrame(settings={"speed": 1.5}, scope=SettingsScope.TTS),
            UpdateSettingsFrame(settings={"sped": 2.0}, scope=SettingsScope.TTS),
            UpdateSettingsFrame(settings={"speed": 9.0}, scope=SettingsScope.STT),  # not for a TTS
        ],
    )
    assert tts.settings.speed == 1.5
    [error] = result.errors
    assert (
        "unknown setting(s) sped; known settings: "
        "chunk_timeout, first_byte_timeout, sample_rate, speed, voice" in error.error
    )


async def test_llm_streams_tokens_between_start_and_end_with_ttfb() -> None:
    llm = FakeScriptedLLM(text_events("Hi", " there", "!"), delay=0.2)
    result = await run_processor(
        llm, [LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "hey"}]))]
    )
    assert kinds(result.downstream)[0] == "LLMFullResponseStartFrame"
    assert [f.text for f in result.of_type(LLMTextFrame)] == ["Hi", " there", "!"]
    assert isinstance(result.of_type(LLMFullResponseEndFrame)[0], LLMFullResponseEndFrame)
    ttfb = [d.value for m in result.of_type(MetricsFrame) for d in m.data if d.kind == "ttfb"]
    assert ttfb == pytest.approx([0.2])


async def test_llm_assembles_streamed_tool_calls() -> None:
    llm = FakeScriptedLLM(tool_events(), delay=0.01)
    result = await run_processor(llm, [LLMContextFrame(context=LLMContext())])
    calls = result.of_type(FunctionCallInProgressFrame)
    assert [(c.tool_call_id, c.function_name, c.arguments) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {}),
    ]
    usage = [d for m in result.of_type(MetricsFrame) for d in m.data if d.kind == "llm_usage"]
    assert usage[0].value == 27


async def test_llm_malformed_tool_arguments_and_provider_errors_become_error_frames() -> None:
    from voiceframe.services.llm import LLMToolCallDelta

    bad = FakeScriptedLLM([LLMToolCallDelta(0, id="c", name="f", arguments="{not json")], delay=0.01)
    result = await run_processor(bad, [LLMContextFrame(context=LLMContext())])
    [error] = result.errors
    assert "tool call 'f' has arguments that are not valid JSON" in error.error
    assert result.of_type(LLMFullResponseEndFrame)  # the response is still closed

    failing = FakeScriptedLLM([], fail_with="HTTP 500 from provider")
    result = await run_processor(failing, [LLMContextFrame(context=LLMContext())])
    [error] = result.errors
    assert "ServiceError: HTTP 500 from provider" in error.error


async def test_segmented_stt_transcribes_one_utterance_with_preroll() -> None:
    stt = FakeSegmentSTT()
    chunk = b"\x00\x00" * 320  # 20 ms at 16 kHz
    frames: list[object] = [InputAudioRawFrame(audio=chunk) for _ in range(100)]  # 2 s before speech
    frames.append(VADUserStartedSpeakingFrame())
    frames += [InputAudioRawFrame(audio=chunk) for _ in range(50)]  # 1 s of speech
    frames.append(VADUserStoppedSpeakingFrame())
    result = await run_processor(stt, frames)  # type: ignore[arg-type]
    from voiceframe.frames import TranscriptionFrame

    [t] = result.of_type(TranscriptionFrame)
    assert t.text == "100 chunks"  # 1 s preroll + 1 s utterance
    assert len(result.of_type(InputAudioRawFrame)) == 150  # audio passes on


async def test_stt_resamples_and_downmixes_input() -> None:
    stt = FakeSegmentSTT()
    stereo_48k = b"\x00\x00" * 960 * 2  # 20 ms stereo at 48 kHz
    frames: list[object] = [VADUserStartedSpeakingFrame()]
    frames += [InputAudioRawFrame(audio=stereo_48k, sample_rate=48000, num_channels=2) for _ in range(50)]
    frames.append(VADUserStoppedSpeakingFrame())
    await run_processor(stt, frames)  # type: ignore[arg-type]
    # ~1 s of 16 kHz mono; a streaming resampler holds back ~20 ms until it is flushed
    assert stt.segments and abs(stt.segments[0] - 32000) <= 1500


def test_settings_and_keywords_together_is_an_error() -> None:
    from voiceframe.services.tts import TTSSettings

    with pytest.raises(TypeError, match="either settings= or keyword settings"):
        FakeToneTTS(settings=TTSSettings(), voice="x")


def test_start_frame_rates_are_used() -> None:
    assert StartFrame(audio_out_sample_rate=8000).audio_out_sample_rate == 8000
