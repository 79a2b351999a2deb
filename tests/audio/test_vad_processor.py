"""VADProcessor on espeak-ng speech in a pipeline on the virtual clock: 20 ms frames arrive in real time.

Times printed are pipeline-clock seconds relative to the true speech onset / end.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from tests.audio.conftest import SENTENCES
from voiceframe.audio import generators as gen
from voiceframe.audio.pcm import Int16Array
from voiceframe.audio.vad.analyzer import VADParams
from voiceframe.audio.vad.processor import VADProcessor
from voiceframe.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    SettingsScope,
    UpdateSettingsFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.processor import UPSTREAM
from voiceframe.task import TaskState
from voiceframe.testing.run import ProcessorRun, Wait, run_processor

SR = 16000
FRAME = 320  # 20 ms
LEAD = 1.0
Speak = Callable[..., Int16Array]


def audio_frames(x: Int16Array, sr: int = SR, channels: int = 1) -> list[Frame | Wait]:
    n = FRAME * channels * sr // SR
    out: list[Frame | Wait] = []
    for i in range(0, x.size, n):
        out += [InputAudioRawFrame(audio=x[i : i + n].tobytes(), sample_rate=sr, num_channels=channels)]
        out.append(Wait(n / channels / sr))
    return out


def vad_times(run: ProcessorRun) -> list[tuple[str, float]]:
    t0 = next(t for f, t in zip(run.downstream, run.times, strict=True) if isinstance(f, InputAudioRawFrame))
    return [
        ("started" if isinstance(f, VADUserStartedSpeakingFrame) else "stopped", t - t0)
        for f, t in zip(run.downstream, run.times, strict=True)
        if isinstance(f, VADUserStartedSpeakingFrame | VADUserStoppedSpeakingFrame)
    ]


@pytest.mark.parametrize("background", ["silence", "noise-30dBFS", "clicks", "second-voice-35dBFS"])
async def test_onset_and_configured_stop_on_speech(speech: Speak, background: str) -> None:
    voice = speech(SENTENCES[0])
    x = np.concatenate([gen.silence(LEAD), voice, gen.silence(1.5)])
    if background == "noise-30dBFS":
        x = gen.mix(x, gen.white_noise(x.size / SR, dbfs=-30, seed=1))
    elif background == "clicks":
        x = gen.mix(x, gen.click_train(x.size / SR, rate_hz=5, peak_dbfs=-10, jitter=0.3, seed=2))
    elif background == "second-voice-35dBFS":
        x = gen.mix(x, speech(SENTENCES[3], dbfs=-35)[: voice.size - SR], offsets=[0, int((LEAD + 0.5) * SR)])
    stop_secs = 0.5
    run = await run_processor(VADProcessor(VADParams(stop_secs=stop_secs)), audio_frames(x))
    events = vad_times(run)
    assert [k for k, _ in events] == ["started", "stopped"], events
    onset, end = LEAD, LEAD + voice.size / SR
    start_delay, stop_delay = events[0][1] - onset, events[1][1] - end
    print(f"VADProcessor over {background}: started {start_delay:.3f} s after onset, "
          f"stopped {stop_delay:.3f} s after the last speech sample (stop_secs {stop_secs})")  # fmt: skip
    # start = model onset lag (<= 0.3 s) + start_secs (0.2) + one 20 ms frame of buffering
    assert 0.2 <= start_delay <= 0.2 + 0.3 + 0.02
    # espeak's final phoneme may score as non-speech: the stop can come up to ~0.3 s early
    assert stop_secs - 0.35 <= stop_delay <= stop_secs + 0.1


@pytest.mark.parametrize("kind", ["noise-10dBFS", "clicks", "noise+clicks"])
async def test_no_start_on_noise_or_clicks(kind: str) -> None:
    x = {
        "noise-10dBFS": gen.white_noise(3.0, dbfs=-10, seed=3),
        "clicks": gen.click_train(3.0, rate_hz=8, peak_dbfs=-3, jitter=0.3, seed=4),
        "noise+clicks": gen.mix(gen.white_noise(3.0, dbfs=-40, seed=5), gen.click_train(3.0, rate_hz=6)),
    }[kind]
    run = await run_processor(VADProcessor(), audio_frames(x))
    assert vad_times(run) == []
    assert len(run.of_type(InputAudioRawFrame)) == x.size // FRAME + (x.size % FRAME > 0)  # audio passed on


async def test_update_settings_frame_changes_stop_at_run_time(speech: Speak) -> None:
    voice = speech(SENTENCES[2])
    x = np.concatenate([gen.silence(LEAD), voice, gen.silence(2.0)])
    frames = audio_frames(x)
    cut = 2 * int((LEAD + 0.5) * SR / FRAME)  # half a second into the speech
    update = UpdateSettingsFrame(scope=SettingsScope.VAD, settings={"stop_secs": 1.2})
    vad = VADProcessor(VADParams(stop_secs=0.3))
    run = await run_processor(vad, [*frames[:cut], update, *frames[cut:]])
    events = vad_times(run)
    assert [k for k, _ in events] == ["started", "stopped"]
    stop_delay = events[1][1] - (LEAD + voice.size / SR)
    print(f"stop_secs 0.3 -> 1.2 while speaking: stopped {stop_delay:.3f} s after speech")
    assert 1.2 - 0.35 <= stop_delay <= 1.2 + 0.1
    assert vad.params.stop_secs == 1.2 and run.of_type(UpdateSettingsFrame) == [update]


async def test_bad_settings_are_reported_and_change_nothing() -> None:
    vad = VADProcessor()
    bad = UpdateSettingsFrame(scope=SettingsScope.VAD, settings={"stop_sec": 0.3})
    other_scope = UpdateSettingsFrame(scope=SettingsScope.TTS, settings={"voice": "x"})
    run = await run_processor(vad, [bad, other_scope])
    (error,) = run.of_type(ErrorFrame, direction=UPSTREAM)
    assert "stop_sec" in error.error and "stop_secs" in error.error and not error.fatal
    assert vad.params == VADParams()


@pytest.mark.parametrize(
    ("rate", "channels", "fix"),
    [
        (44100, 1, r"16000 or 8000 Hz.*got 44100.*StreamResampler\(44100, 16000\)"),
        (16000, 2, r"mono.*2 channels.*downmix"),
    ],
)
async def test_bad_audio_is_one_fatal_error_naming_the_fix(rate: int, channels: int, fix: str) -> None:
    x = gen.sine(0.2, rate) if channels == 1 else np.repeat(gen.sine(0.2), 2)
    frames = audio_frames(x, rate, channels)
    run = await run_processor(VADProcessor(), frames)
    assert run.task is not None
    errors = [e for e in run.task.errors if e.fatal]
    assert len(errors) == 1, run.task.errors
    print(f"bad input error: {errors[0].error}")
    assert re.search(fix, errors[0].error)
    assert run.state is TaskState.CANCELLED  # fatal: a bot that cannot hear must not run on silently


async def test_mid_session_rate_change_is_an_error() -> None:
    frames = [*audio_frames(gen.silence(0.1)), *audio_frames(gen.silence(0.1, 8000), 8000)]
    run = await run_processor(VADProcessor(), frames)
    assert run.task is not None
    assert any("changed from 16000 to 8000" in e.error for e in run.task.errors)


def test_sample_rate_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="resample"):
        VADProcessor(sample_rate=22050)
    assert VADProcessor(sample_rate=8000).analyzer is not None


async def test_batched_sessions_decide_exactly_as_unbatched_ones(speech: Speak) -> None:
    """Several sessions share one model call per loop iteration; their VAD frames do not change."""
    import asyncio

    from voiceframe.audio.vad.batcher import VADBatcher
    from voiceframe.clock import virtual_time

    signals = [
        np.concatenate([gen.silence(LEAD + 0.3 * i), speech(SENTENCES[i]), gen.silence(1.5)])
        for i in range(3)
    ]
    alone = [vad_times(await run_processor(VADProcessor(), audio_frames(x))) for x in signals]
    batcher = VADBatcher()
    with virtual_time():
        together = await asyncio.gather(
            *(run_processor(VADProcessor(batcher=batcher), audio_frames(x)) for x in signals)
        )

    def rounded(times: list[tuple[str, float]]) -> list[tuple[str, float]]:
        return [(kind, round(t, 6)) for kind, t in times]

    assert [rounded(vad_times(r)) for r in together] == [rounded(a) for a in alone]
    assert all([kind for kind, _ in a] == ["started", "stopped"] for a in alone)
    assert batcher.windows > batcher.calls  # windows of different sessions really shared model calls
