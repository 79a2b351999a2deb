import pytest

from voiceframe.clock import virtual_time
from voiceframe.frames import (
    EndFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    now,
)


def test_audio_frame_rejects_partial_samples_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="not a whole number of int16 samples for 2 channel"):
        OutputAudioRawFrame(audio=b"\x00" * 6, sample_rate=16000, num_channels=2)
    with pytest.raises(ValueError, match="sample_rate must be positive"):
        InputAudioRawFrame(audio=b"\x00\x00", sample_rate=0)
    with pytest.raises(ValueError, match="num_channels must be positive"):
        InputAudioRawFrame(audio=b"\x00\x00", num_channels=0)


def test_audio_frame_geometry_and_numpy_view_without_copy() -> None:
    frame = TTSAudioRawFrame(audio=bytes(range(8)) * 160, sample_rate=16000, num_channels=2)
    assert frame.num_frames == 320
    assert frame.duration == pytest.approx(0.02)
    view = frame.to_numpy()
    assert view.shape == (320, 2)
    assert not view.flags.writeable  # a view of the bytes, not a copy


def test_kinds_and_interruptibility_defaults() -> None:
    assert InputAudioRawFrame().is_system and not InputAudioRawFrame().interruptible
    assert OutputAudioRawFrame().interruptible
    assert TextFrame(text="x").interruptible
    # never lost to an interruption: what the user said, the end, function results
    assert not TranscriptionFrame(text="hi").interruptible
    assert not EndFrame().interruptible
    assert not FunctionCallResultFrame().interruptible
    # positional text still works on subclasses that redeclare interruptibility
    assert TranscriptionFrame("hello").text == "hello"
    assert TextFrame(text="x", interruptible=False).interruptible is False


def test_frames_have_unique_ids_and_unset_epoch() -> None:
    frames = [TextFrame(text=str(i)) for i in range(100)]
    assert len({f.id for f in frames}) == 100
    assert all(f.epoch == -1 for f in frames)
    assert InterruptionFrame(epoch=3).epoch == 3


async def test_creation_time_is_on_the_pipeline_clock() -> None:
    import asyncio

    with virtual_time():
        start = now()
        await asyncio.sleep(42.0)
        frame = TextFrame(text="later")
    assert frame.created - start == pytest.approx(42.0)
