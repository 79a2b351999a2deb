"""The pocketsphinx STT service in a pipeline, on real espeak speech, with VAD frames marking the turn."""

from voiceframe_espeak import speak_to_pcm
from voiceframe_pocketsphinx.service import PocketsphinxSTTService

from voiceframe.frames import (
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.testing import run_processor

# measured: these recognise exactly in grammar mode on espeak speech at 140 wpm ("what time is it" does not:
# pocketsphinx hears "what time"), so they are what the offline demo's grammar builds on
PHRASES = ["what time is it", "tell me a joke", "what is the weather today", "goodbye", "open the door"]


def utterance_frames(text: str, rate: int = 16000) -> list[object]:
    speech = speak_to_pcm(text, sample_rate=rate, rate_wpm=140)
    silence = b"\x00\x00" * (rate // 2)
    pcm = silence + speech + silence
    chunk = rate // 50 * 2
    frames: list[object] = []
    lead = len(silence) // chunk
    for i, start in enumerate(range(0, len(pcm) - chunk + 1, chunk)):
        if i == lead:
            frames.append(VADUserStartedSpeakingFrame())
        frames.append(InputAudioRawFrame(audio=pcm[start : start + chunk], sample_rate=rate))
    frames.append(VADUserStoppedSpeakingFrame())
    return frames


async def test_grammar_mode_recognises_command_phrases_with_partials() -> None:
    for phrase in ("tell me a joke", "open the door"):
        stt = PocketsphinxSTTService(grammar=PHRASES)
        result = await run_processor(stt, utterance_frames(phrase))  # type: ignore[arg-type]
        [final] = result.of_type(TranscriptionFrame)
        assert final.text == phrase
        assert final.words and [w.word for w in final.words] == phrase.split()
        assert result.of_type(InterimTranscriptionFrame)  # partials while speaking


async def test_input_at_another_rate_is_resampled() -> None:
    stt = PocketsphinxSTTService(grammar=PHRASES)
    result = await run_processor(stt, utterance_frames("goodbye", rate=8000))  # type: ignore[arg-type]
    assert [t.text for t in result.of_type(TranscriptionFrame)] == ["goodbye"]


def test_wrong_model_rate_is_a_clear_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="needs sample_rate = 16000"):
        PocketsphinxSTTService(sample_rate=8000)
