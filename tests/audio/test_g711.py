"""G.711 mu-law / A-law against the ITU-T reference values and round-trip properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voiceframe.audio import g711

ALL = np.arange(-32768, 32768, dtype=np.int16)


def test_known_code_points() -> None:
    # From the G.711 tables: silence codes, extremes, and segment boundaries.
    assert g711.ulaw_encode(np.array([0, 32767, -32768, 1, -1], np.int16)) == bytes(
        [0xFF, 0x80, 0x00, 0xFF, 0x7E]
    )
    assert g711.alaw_encode(np.array([0, 32767, -32768, -1], np.int16)) == bytes([0xD5, 0xAA, 0x2A, 0x55])
    mu = np.frombuffer(g711.ulaw_decode(bytes([0x00, 0x7F, 0x80, 0xFF, 0x70, 0xF0])), np.int16)
    assert mu.tolist() == [-32124, 0, 32124, 0, -120, 120]
    a = np.frombuffer(g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A, 0x80, 0x00])), np.int16)
    assert a.tolist() == [8, -8, 32256, -32256, 5504, -5504]


@pytest.mark.parametrize(
    ("enc", "dec"), [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)]
)
def test_decode_encode_is_identity_on_codes(enc, dec) -> None:  # type: ignore[no-untyped-def]
    codes = bytes(range(256))
    back = enc(dec(codes))
    if enc is g711.ulaw_encode:
        # mu-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes to 0xFF
        assert back == codes.replace(b"\x7f", b"\xff")
    else:
        assert back == codes


@pytest.mark.parametrize(
    ("enc", "dec", "bits"),
    [(g711.ulaw_encode, g711.ulaw_decode, 14), (g711.alaw_encode, g711.alaw_decode, 13)],
)
def test_round_trip_error_is_within_half_a_step(enc, dec, bits) -> None:  # type: ignore[no-untyped-def]
    y = np.frombuffer(dec(enc(ALL)), np.int16).astype(np.int32)
    x = ALL.astype(np.int32)
    err = np.abs(y - x)
    # quantisation step grows with magnitude: relative error stays below ~1/16 (4 mantissa bits)
    big = np.abs(x) > 256
    assert np.all(err[big] <= np.abs(x[big]) / 16 + 2 ** (16 - bits))
    assert np.all(np.diff(y) >= 0)  # monotonic companding
    assert np.array_equal(np.sign(y[np.abs(x) > 64]), np.sign(x[np.abs(x) > 64]))


def test_bit_exact_with_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # removed in Python 3.13
    pcm = ALL.tobytes()
    codes = bytes(range(256))
    assert g711.ulaw_encode(pcm) == audioop.lin2ulaw(pcm, 2)
    assert g711.alaw_encode(pcm) == audioop.lin2alaw(pcm, 2)
    assert g711.ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes) == audioop.alaw2lin(codes, 2)
