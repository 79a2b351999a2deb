"""Silero VAD CPU cost per 32 ms chunk: voiceframe (shared session, with and without batching) vs
pipecat-ai's SileroVADAnalyzer, in one run on one machine. Prints JSON.

CPU time is ``time.process_time`` (all threads of this process); the sessions run with one intra-op
thread, so one stream's work stays on one core. "streams per core" = 32 ms / CPU per chunk.

    python benchmarks/vad.py [--seconds 4] [--streams 1,8,32,150]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from voiceframe.audio import generators as gen
from voiceframe.audio.vad.analyzer import VADAnalyzer, feed_many
from voiceframe.audio.vad.model_files import silero_vad_path
from voiceframe.audio.vad.silero import SileroStream

SR = 16000
CHUNK = 512  # 32 ms
CHUNK_SECS = CHUNK / SR
PIPECAT_MAX_STREAMS = 16
BAR_STREAMS_PER_CORE = 150


def test_signal(seconds: float, seed: int) -> np.ndarray:
    """Noise with tone bursts: exercises every VAD state; Silero's cost does not depend on content."""
    noise = gen.white_noise(seconds, SR, dbfs=-45, seed=seed)
    burst = np.concatenate([gen.sine(0.6, SR, freq=180 + 40 * seed, dbfs=-20), gen.silence(0.9, SR)])
    bursts = np.tile(burst, int(seconds / 1.5) + 1)[: noise.size]
    return gen.mix(noise, bursts)


def cpu_per_chunk(run: Callable[[], int], repeats: int = 3) -> float:
    """Best-of-``repeats`` CPU microseconds per (stream x chunk); ``run`` returns how many it did."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        n = run()
        samples.append((time.process_time() - t0) / n * 1e6)
    return min(samples)


def chunks_of(x: np.ndarray) -> list[bytes]:
    return [x[i : i + CHUNK].tobytes() for i in range(0, x.size - CHUNK + 1, CHUNK)]


def bench_voiceframe_raw(audio: list[bytes]) -> float:
    def run() -> int:
        s = SileroStream(SR)
        for c in audio:
            s.score(c)
        return len(audio)

    return cpu_per_chunk(run)


def bench_voiceframe(audio: list[list[bytes]], batched: bool) -> float:
    n_streams = len(audio)

    def run() -> int:
        analyzers = [VADAnalyzer(SR) for _ in range(n_streams)]
        for k in range(len(audio[0])):
            if batched:
                feed_many(analyzers, [a[k] for a in audio])
            else:
                for a, chunks in zip(analyzers, audio, strict=True):
                    a.feed(chunks[k])
        return n_streams * len(audio[0])

    return cpu_per_chunk(run)


def bench_pipecat(audio: list[list[bytes]]) -> dict[str, float] | None:
    try:
        from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
    except ImportError:
        return None
    n_streams = len(audio)
    analyzers = []
    for _ in range(n_streams):
        a = SileroVADAnalyzer(sample_rate=SR)
        a.set_sample_rate(SR)
        analyzers.append(a)

    def run() -> int:
        for a in analyzers:
            a.set_params(a.params)  # back to QUIET between repeats
        for k in range(len(audio[0])):
            for a, chunks in zip(analyzers, audio, strict=True):
                # the synchronous body of analyze_audio (its executor hop is left out, in pipecat's favour)
                a._run_analyzer(chunks[k])
        return n_streams * len(audio[0])

    model = SileroOnnxModel(str(silero_vad_path()))  # type: ignore[no-untyped-call]
    flat = audio[0]

    def run_raw() -> int:
        model.reset_states()  # type: ignore[no-untyped-call]
        for c in flat:
            model(np.frombuffer(c, np.int16).astype(np.float32) / 32768.0, SR)
        return len(flat)

    result = {"analyzer_us_per_chunk": cpu_per_chunk(run), "model_only_us_per_chunk": cpu_per_chunk(run_raw)}
    for a in analyzers:
        a._executor.shutdown(wait=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per stream")
    parser.add_argument("--streams", default="1,8,32,150", help="stream counts to measure")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]

    from loguru import logger

    logger.remove()  # pipecat logs every analyzer it creates
    max_streams = max(counts)
    # Per-stream audio: a few distinct signals, shifted per stream so windows do not line up.
    base = [test_signal(args.seconds, seed) for seed in range(4)]
    all_audio = [chunks_of(np.roll(base[i % 4], 997 * i)) for i in range(max_streams)]
    SileroStream(SR)  # load the shared session outside the timings

    out: dict[str, object] = {
        "benchmark": "silero_vad",
        "chunk_ms": CHUNK_SECS * 1000,
        "seconds_per_stream": args.seconds,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "voiceframe_model_only_us_per_chunk": round(bench_voiceframe_raw(all_audio[0]), 1),
        "runs": [],
    }
    runs: list[dict[str, object]] = []
    for n in counts:
        audio = all_audio[:n]
        row: dict[str, object] = {"streams": n}
        for name, batched in (("voiceframe", False), ("voiceframe_batched", True)):
            us = bench_voiceframe(audio, batched)
            row[name] = {"us_per_chunk": round(us, 1), "streams_per_core": int(CHUNK_SECS * 1e6 / us)}
        # pipecat builds one ONNX session per analyzer; cap its stream count to keep the run short
        pc = bench_pipecat(audio[: min(n, PIPECAT_MAX_STREAMS)])
        if pc is not None:
            row["pipecat"] = {
                "streams_measured": min(n, PIPECAT_MAX_STREAMS),
                "us_per_chunk": round(pc["analyzer_us_per_chunk"], 1),
                "model_only_us_per_chunk": round(pc["model_only_us_per_chunk"], 1),
                "streams_per_core": int(CHUNK_SECS * 1e6 / pc["analyzer_us_per_chunk"]),
            }
        runs.append(row)
        print(json.dumps(row), flush=True, file=sys.stderr)
    out["runs"] = runs
    vf = [r["voiceframe"]["us_per_chunk"] for r in runs]  # type: ignore[index]
    vb = [r["voiceframe_batched"]["us_per_chunk"] for r in runs]  # type: ignore[index]
    pc_vals = [r["pipecat"]["us_per_chunk"] for r in runs if "pipecat" in r]  # type: ignore[index]
    out["summary"] = {
        "voiceframe_median_us_per_chunk": statistics.median(vf),
        "voiceframe_batched_best_us_per_chunk": min(vb),
        "pipecat_median_us_per_chunk": statistics.median(pc_vals) if pc_vals else None,
        "voiceframe_streams_per_core": int(CHUNK_SECS * 1e6 / statistics.median(vf)),
        "voiceframe_batched_streams_per_core": int(CHUNK_SECS * 1e6 / min(vb)),
        "bar_streams_per_core": BAR_STREAMS_PER_CORE,
        "meets_bar_unbatched": CHUNK_SECS * 1e6 / statistics.median(vf) >= BAR_STREAMS_PER_CORE,
        "meets_bar_batched": CHUNK_SECS * 1e6 / min(vb) >= BAR_STREAMS_PER_CORE,
        "cpu_vs_pipecat": round(statistics.median(vf) / statistics.median(pc_vals), 2) if pc_vals else None,
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
