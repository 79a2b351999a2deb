"""The espeak TTS service in a pipeline: real speech, real word timings, on the virtual clock."""

import numpy as np
import pytest
from voiceframe_espeak.service import EspeakTTSService

from voiceframe.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
    UpdateSettingsFrame,
)
from voiceframe.task import PipelineParams
from voiceframe.testing import run_processor


async def test_streamed_llm_text_becomes_speech_with_word_times_on_the_context_timeline() -> None:
    tts = EspeakTTSService(voice="en-us", rate_wpm=160)
    tokens = ["Hello", " there.", " The weather", " is sunny", " today."]
    frames = [LLMFullResponseStartFrame(), *(LLMTextFrame(text=t) for t in tokens), LLMFullResponseEndFrame()]
    result = await run_processor(tts, frames, params=PipelineParams(audio_out_sample_rate=16000))
    audio = result.of_type(TTSAudioRawFrame)
    words = result.of_type(TTSTextFrame)
    assert [w.text for w in words] == ["Hello", "there.", "The", "weather", "is", "sunny", "today."]
    assert all(a.sample_rate == 16000 for a in audio)
    total = sum(a.duration for a in audio)
    pts = [w.pts for w in words]
    assert pts == sorted(pts) and pts[0] == pytest.approx(0.0, abs=0.05)
    assert all(p is not None and p < total for p in pts)
    # the second sentence's first word starts after the first sentence's audio
    first_sentence_audio = sum(a.duration for a in audio[:1])
    assert words[2].pts is not None and words[2].pts >= first_sentence_audio - 1e-6
    # every word's start is followed by speech in the audio (not silence)
    pcm = np.concatenate([a.to_numpy() for a in audio]).astype(np.float64)
    for w in words:
        assert w.pts is not None
        start = int(w.pts * 16000)
        window = pcm[start : start + 1600]
        assert np.sqrt(np.mean(window**2)) > 300, w.text


async def test_voice_and_rate_change_at_run_time() -> None:
    tts = EspeakTTSService(rate_wpm=120)
    result = await run_processor(
        tts,
        [
            TTSSpeakFrame(text="one two three four"),
            UpdateSettingsFrame(settings={"rate_wpm": 300}, target=tts.name),
            TTSSpeakFrame(text="one two three four"),
        ],
    )
    contexts: dict[str, float] = {}
    for a in result.of_type(TTSAudioRawFrame):
        assert a.context_id is not None
        contexts[a.context_id] = contexts.get(a.context_id, 0.0) + a.duration
    slow, fast = contexts.values()
    assert fast < slow * 0.6


def test_bad_voice_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="voice"):
        EspeakTTSService(voice="klingon-xx")
