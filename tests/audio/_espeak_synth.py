"""Synthesise sentences with espeak-ng (espeakng-loader wheel, ctypes) in a fresh process.

Run as a script: reads a JSON list of sentences on stdin, writes for each one a 4-byte little-endian
length then raw int16 PCM at 22050 Hz to stdout. A fresh process plus ``espeak_ng_SetRandSeed`` makes
the output byte-identical on every run (espeak keeps random state across calls in one process).
Standard library only, so the subprocess starts fast.
"""

from __future__ import annotations

import ctypes
import json
import struct
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
POS_CHARACTER = 1
ESPEAK_RATE = 1
SAMPLE_RATE = 22050

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def main() -> None:
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate != SAMPLE_RATE:
        raise SystemExit(f"espeak_Initialize returned {rate}")
    lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
    if lib.espeak_SetVoiceByName(b"en") != 0:
        raise SystemExit("espeak_SetVoiceByName failed")
    lib.espeak_SetParameter(ESPEAK_RATE, 160, 0)
    chunks: list[bytes] = []

    @CALLBACK
    def on_audio(wav: ctypes._Pointer[ctypes.c_short], n: int, _events: int | None) -> int:
        if n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        return 0

    lib.espeak_SetSynthCallback(on_audio)
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    out = sys.stdout.buffer
    for text in json.load(sys.stdin):
        chunks.clear()
        data = text.encode() + b"\0"
        if lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None) != 0:
            raise SystemExit(f"espeak_Synth failed for {text!r}")
        lib.espeak_Synchronize()
        pcm = b"".join(chunks)
        out.write(struct.pack("<I", len(pcm)))
        out.write(pcm)
    out.flush()


if __name__ == "__main__":
    main()
