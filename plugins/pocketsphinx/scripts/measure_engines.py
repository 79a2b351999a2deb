"""Measure both offline engines and print JSON (not a test: numbers depend on the machine).

    .venv/bin/python plugins/pocketsphinx/scripts/measure_engines.py
"""

from __future__ import annotations

import json
import statistics
import time

from voiceframe_espeak import EspeakEngine, speak_to_pcm
from voiceframe_pocketsphinx import SphinxRecognizer

TEXT = "Hello there, how can I help you today? I can book a table for two people at seven."
COMMANDS = ["turn on the lights", "turn off the lights", "call my mother", "play some music",
            "open the door", "what is the weather today", "set an alarm for seven", "thank you very much"]
PAD = b"\0\0" * 4800


def espeak_numbers() -> dict[str, float]:
    engine = EspeakEngine()
    engine.synthesize(TEXT)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        result = engine.synthesize(TEXT)
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    return {"audio_s": round(result.duration_s, 3), "median_ms": round(ms, 2),
            "ms_per_audio_s": round(ms / result.duration_s, 3)}


def sphinx_numbers(rec: SphinxRecognizer, phrases: list[str]) -> dict[str, object]:
    chunk_ms: list[float] = []
    audio_s = busy_s = 0.0
    hits = 0
    results = {}
    for phrase in phrases:
        pcm = PAD + speak_to_pcm(phrase, 16000, rate_wpm=140) + PAD
        t0 = time.perf_counter()
        rec.start_utterance()
        for i in range(0, len(pcm), 640):
            t = time.perf_counter()
            rec.feed(pcm[i : i + 640])
            chunk_ms.append((time.perf_counter() - t) * 1000)
        final = rec.end_utterance()
        busy_s += time.perf_counter() - t0
        audio_s += len(pcm) / 32000
        hits += final.text == phrase
        results[phrase] = final.text
    chunk_ms.sort()
    return {"rtf": round(busy_s / audio_s, 3), "chunk20ms_median_ms": round(chunk_ms[len(chunk_ms) // 2], 3),
            "chunk20ms_p95_ms": round(chunk_ms[int(len(chunk_ms) * 0.95)], 3),
            "exact": f"{hits}/{len(phrases)}", "results": results}


def main() -> None:
    primer = PAD + speak_to_pcm("Good afternoon. I would like to ask you something about the weather.",
                                16000, rate_wpm=140) + PAD
    out: dict[str, object] = {"espeak": espeak_numbers()}
    for name, rec in (("grammar", SphinxRecognizer(grammar=COMMANDS)),
                      ("keyphrase", SphinxRecognizer(keyphrases=dict.fromkeys(
                          ["open the door", "good morning", "turn off the lights",
                           "what is the weather today"], 1e-50))),
                      ("free", SphinxRecognizer())):
        rec.prime(primer)
        phrases = COMMANDS if name != "keyphrase" else ["open the door", "good morning",
                                                         "turn off the lights", "what is the weather today"]
        out[f"sphinx_{name}"] = sphinx_numbers(rec, phrases)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
