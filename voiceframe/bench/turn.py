"""``turn``: end-of-turn decisions of each strategy on labelled complete/incomplete utterances.

Utterances are synthesised offline with several espeak-ng voices and speeds, with optional white noise.
Each one runs through ``VADProcessor -> UserTurnController(strategy)`` on the virtual clock, with the
utterance's text (lower case, no punctuation, like pocketsphinx) arriving as a final transcript 0.3 s
after the last word. A turn counts as judged "complete" if the controller ended it within
``COMPLETE_WITHIN`` of the speech end, i.e. without waiting for ``max_wait``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.progress import Progress

from voiceframe.bench import stats
from voiceframe.bench.common import Run
from voiceframe.bench.results import BenchResult, metric
from voiceframe.testing.turn_samples import LABELLED

SR = 16000
LEAD, TAIL = 0.5, 4.0
STT_DELAY = 0.3
MAX_WAIT = 3.0
COMPLETE_WITHIN = 1.5  # well below MAX_WAIT + stop_secs, well above any "complete" path


@dataclass(frozen=True)
class Condition:
    voice: str
    rate_wpm: int
    noise_dbfs: float | None  # None: digital silence around the speech

    @property
    def label(self) -> str:
        noise = "clean" if self.noise_dbfs is None else f"noise {self.noise_dbfs:g} dBFS"
        return f"{self.voice} {self.rate_wpm} wpm {noise}"


def conditions(quick: bool) -> list[Condition]:
    from voiceframe_espeak import list_voices

    have = {v.identifier.split("/")[-1].lower() for v in list_voices()}
    voices = [v for v in ("en-us", "en", "en-gb-x-rp") if v in have] or ["en-us"]
    if quick:
        return [Condition(v, 160, n) for v, n in zip(voices[::2], (None, -40.0), strict=False)]
    # every voice at two speeds, the faster one in noise: 6 conditions keep a full run near 3 minutes
    return [Condition(v, r, n) for v in voices for r, n in ((140, None), (180, -40.0))]


def strategies() -> dict[str, tuple[float, Any]]:
    """name -> (VAD stop_secs, strategy factory)."""
    from voiceframe.turns.strategies import (
        CombinedStrategy,
        SmartTurnStrategy,
        TranscriptStrategy,
        VADSilenceStrategy,
    )

    return {
        "vad_0.8s": (0.8, VADSilenceStrategy),
        "vad_0.2s": (0.2, VADSilenceStrategy),
        "smart_turn": (0.2, lambda: SmartTurnStrategy(max_wait=MAX_WAIT)),
        "transcript": (0.2, lambda: TranscriptStrategy(max_wait=MAX_WAIT)),
        "combined": (0.2, lambda: CombinedStrategy(max_wait=MAX_WAIT)),
    }


def utterance(text: str, c: Condition, seed: int) -> tuple[np.ndarray[Any, Any], float]:
    """(16 kHz int16 signal, speech end in seconds) for ``text`` under condition ``c``."""
    from voiceframe_espeak.engine import EspeakEngine

    from voiceframe.audio import generators as gen

    pcm = EspeakEngine(voice=c.voice, rate_wpm=c.rate_wpm).synthesize(text).resampled(SR).audio
    x = np.frombuffer(pcm, np.int16)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 300)
    x = gen.scale_to_dbfs(x[loud[0] : loud[-1] + 1] if loud.size else x, -20.0)
    signal = np.concatenate([gen.silence(LEAD), x, gen.silence(TAIL)])
    if c.noise_dbfs is not None:
        signal = gen.mix(signal, gen.white_noise(signal.size / SR, SR, dbfs=c.noise_dbfs, seed=seed))
    return signal, LEAD + x.size / SR


async def decide(
    signal: np.ndarray[Any, Any], end: float, text: str, stop_secs: float, strategy: Any
) -> tuple[float | None, list[float]]:
    """(seconds from speech end to UserStoppedSpeaking or None, CPU seconds per strategy call)."""
    from voiceframe.audio.vad.analyzer import VADParams
    from voiceframe.audio.vad.processor import VADProcessor
    from voiceframe.frames import InputAudioRawFrame, TranscriptionFrame, UserStoppedSpeakingFrame
    from voiceframe.pipeline import Pipeline
    from voiceframe.testing.run import Wait, run_processor
    from voiceframe.turns.controller import UserTurnController

    cpu: list[float] = []
    inner = strategy.evaluate

    def timed(turn: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(turn)
        finally:
            cpu.append(time.perf_counter() - t)

    strategy.evaluate = timed
    items: list[Any] = []
    n = SR // 50
    for i in range(0, signal.size, n):
        items += [InputAudioRawFrame(audio=signal[i : i + n].tobytes(), sample_rate=SR), Wait(n / SR)]
    at = 2 * round((end + STT_DELAY) / 0.02)
    items.insert(at, TranscriptionFrame(text=text.lower().rstrip(".?!").replace(",", "")))
    ctl = UserTurnController(strategy=strategy)
    run = await run_processor(Pipeline([VADProcessor(VADParams(stop_secs=stop_secs)), ctl]), items)
    t0 = next(t for f, t in zip(run.downstream, run.times, strict=True) if isinstance(f, InputAudioRawFrame))
    stops = [
        t - t0
        for f, t in zip(run.downstream, run.times, strict=True)
        if isinstance(f, UserStoppedSpeakingFrame)
    ]
    return (stops[0] - end if stops else None), cpu


async def _measure(conds: list[Condition], progress: Progress) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    strats = strategies()
    task = progress.add_task("turn: utterances x strategies", total=len(conds) * len(LABELLED) * len(strats))
    for ci, c in enumerate(conds):
        for ui, (text, complete) in enumerate(LABELLED):
            signal, end = utterance(text, c, seed=ci * 100 + ui)
            for name, (stop_secs, make) in strats.items():
                wait, cpu = await decide(signal, end, text, stop_secs, make())
                rows.append(
                    {
                        "strategy": name,
                        "condition": c.label,
                        "text": text,
                        "complete": complete,
                        "wait_s": None if wait is None else round(wait, 4),
                        "judged_complete": wait is not None and wait < COMPLETE_WITHIN,
                        "decision_cpu_ms": round(1000 * max(cpu), 3) if cpu else 0.0,
                    }
                )
                progress.advance(task)
    return rows


def _accuracy(rows: list[dict[str, Any]], strategy: str, condition: str) -> float:
    mine = [x for x in rows if x["strategy"] == strategy and x["condition"] == condition]
    return round(
        stats.precision_recall([x["judged_complete"] for x in mine], [x["complete"] for x in mine])[2], 3
    )


def run(quick: bool, progress: Progress) -> BenchResult:
    conds = conditions(quick)
    r = Run(
        "turn",
        quick,
        {
            "conditions": [c.label for c in conds],
            "utterances": len(LABELLED),
            "stt_delay_s": STT_DELAY,
            "max_wait_s": MAX_WAIT,
            "complete_within_s": COMPLETE_WITHIN,
        },
    )
    rows = asyncio.run(_measure(conds, progress))
    r.tables["decisions"] = rows
    summary = []
    for name in strategies():
        mine = [x for x in rows if x["strategy"] == name]
        p, rec, acc = stats.precision_recall(
            [x["judged_complete"] for x in mine], [x["complete"] for x in mine]
        )
        waits = [x["wait_s"] for x in mine if x["complete"] and x["wait_s"] is not None]
        cpu = [x["decision_cpu_ms"] for x in mine]
        if waits:
            r.metrics.append(metric(f"{name}.wait_after_speech_end", "s", waits, group=name))
        r.metrics.append(metric(f"{name}.decision_cpu", "ms", cpu, group=name))
        for label, value in (("precision", p), ("recall", rec), ("accuracy", acc)):
            r.metrics.append(metric(f"{name}.{label}", "fraction", [value], better="higher", group=name))
        summary.append(
            {
                "strategy": name,
                "precision": round(p, 3),
                "recall": round(rec, 3),
                "accuracy": round(acc, 3),
                "median_wait_s_complete": round(stats.percentile(waits, 50), 3) if waits else None,
                "n": len(mine),
            }
        )
    r.tables["summary"] = summary
    r.tables["accuracy_by_condition"] = [
        {"strategy": name} | {c.label: _accuracy(rows, name, c.label) for c in conds} for name in strategies()
    ]
    r.notes.append("transcripts are the exact text (no STT errors), lower case without punctuation")
    return r.finish(("voiceframe-espeak",))
