"""The echo estimator on synthetic signals: delay and gain found online, echo told from speech."""

from __future__ import annotations

import math

import numpy as np

from voiceframe.audio.echo import BLOCK_SECS, EchoEstimator, EchoGuard
from voiceframe.frames import InputAudioRawFrame, OutputAudioRawFrame

SR = 16000
FRAME = 320


def bursty(seconds: float, seed: int = 1) -> np.ndarray:
    """Noise bursts of random length and level: an envelope as uneven as speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    env = np.repeat(rng.uniform(0.0, 1.0, n // 800 + 1) ** 3, 800)[:n]
    return rng.standard_normal(n) * env * 3000


def feed(guard: EchoGuard, ref: np.ndarray, mic: np.ndarray) -> None:
    """Reference played from t=0 and the microphone heard over the same time, in 20 ms frames."""
    for k in range(0, ref.size, FRAME):
        t = k / SR
        played = np.clip(ref[k : k + FRAME], -32768, 32767).astype(np.int16).tobytes()
        guard.on_reference(OutputAudioRawFrame(audio=played, sample_rate=SR, pts=t))
        heard = np.clip(mic[k : k + FRAME], -32768, 32767).astype(np.int16).tobytes()
        guard.on_input(InputAudioRawFrame(audio=heard, sample_rate=SR), end=t + FRAME / SR)


def echo_of(ref: np.ndarray, delay: float, leak_db: float) -> np.ndarray:
    d = round(delay * SR)
    out = np.zeros_like(ref)
    out[d:] = ref[: ref.size - d] * 10 ** (leak_db / 20)
    return out


def test_delay_and_gain_are_found() -> None:
    ref = bursty(4.0)
    guard = EchoGuard()
    feed(guard, ref, echo_of(ref, 0.1, -20.0))
    est = guard.estimator
    assert est.delay is not None and abs(est.delay - 0.1) <= BLOCK_SECS
    # the gain is relative to the reference's envelope around the lag (its loudest block of four), so
    # it reads a few dB under the true -20 dB; the prediction uses the same envelope
    assert est.gain_db is not None and -26.0 < est.gain_db < -19.0
    assert guard.is_echo(4.0)
    assert -6.0 < guard.excess_db(4.0) < guard.margin_db


def test_speech_over_the_echo_is_not_echo() -> None:
    ref = bursty(4.0)
    user = bursty(4.0, seed=9) * 0.5
    user[: int(3.5 * SR)] = 0.0  # the user starts at 3.5 s, about 14 dB above the -20 dB echo
    guard = EchoGuard()
    feed(guard, ref, echo_of(ref, 0.1, -20.0) + user)
    assert not guard.is_echo(4.0)
    assert guard.excess_db(4.0) > guard.margin_db


def test_no_echo_path_means_no_gain() -> None:
    # a headset: the microphone hears nothing of the reference, so nothing needs holding back
    ref = bursty(3.0)
    guard = EchoGuard()
    feed(guard, ref, np.random.default_rng(5).standard_normal(ref.size) * 10)
    assert guard.estimator.gain is not None and guard.estimator.gain < 1e-3


def test_echo_is_impossible_after_the_reference_stops() -> None:
    ref = np.concatenate([bursty(1.0), np.zeros(SR)])
    guard = EchoGuard()
    feed(guard, ref, echo_of(ref, 0.05, -20.0))
    assert guard.echo_possible(1.2)
    assert not guard.echo_possible(2.0)


def test_reference_and_input_rates_may_differ() -> None:
    est = EchoEstimator()
    est.add_reference(np.full(480, 1000, dtype=np.int16).tobytes(), 24000, 0.0)
    est.add_input(np.full(320, 1000, dtype=np.int16).tobytes(), 16000, 0.0)
    assert math.isclose(est.reference_energy(0, 0)[0], est.input_energy(0, 0)[0])
