"""Run an :class:`~voiceframe.evals.scenario.EvalSuite` and check its expectations.

Each run builds the bot from its config around a :class:`~voiceframe.evals.user.SimulatedUser` and the
file transport's WAV output, records the session (:class:`~voiceframe.observe.recorder.SessionRecorder`)
on the virtual clock, then checks every expectation against the recorded events of its user turn (from
the moment that turn's audio began to the next turn's).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voiceframe.evals.scenario import EvalSuite, Expectation, Scenario, UserTurn, Variation

__all__ = ["EvalReport", "ExpectationResult", "RunResult", "run_evals", "run_scenario"]

Events = list[dict[str, Any]]


@dataclass(slots=True)
class ExpectationResult:
    turn: int  #: 1-based user turn
    expectation: str
    passed: bool
    detail: str = ""


@dataclass(slots=True)
class RunResult:
    scenario: str
    run: int
    variation: str
    results: list[ExpectationResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    session: str | None = None  #: the recorded session.jsonl, if kept

    @property
    def passed(self) -> bool:
        return not self.errors and all(r.passed for r in self.results)


@dataclass(slots=True)
class EvalReport:
    runs: list[RunResult]

    def pass_rates(self) -> dict[tuple[str, int, str], tuple[int, int]]:
        """(scenario, turn, expectation) -> (runs passed, runs)."""
        rates: dict[tuple[str, int, str], tuple[int, int]] = {}
        for run in self.runs:
            for r in run.results:
                ok, n = rates.get((run.scenario, r.turn, r.expectation), (0, 0))
                rates[(run.scenario, r.turn, r.expectation)] = (ok + (r.passed and not run.errors), n + 1)
        return rates

    def ok(self, min_pass_rate: float = 1.0) -> bool:
        return all(ok >= min_pass_rate * n for ok, n in self.pass_rates().values())

    def to_text(self) -> str:
        lines: list[str] = []
        current = None
        for (scenario, turn, what), (ok, n) in self.pass_rates().items():
            if scenario != current:
                current = scenario
                runs = [r for r in self.runs if r.scenario == scenario]
                lines.append(f"{scenario}: {sum(r.passed for r in runs)}/{len(runs)} runs passed every check")
            lines.append(f"  turn {turn}  {what:<48} {ok}/{n}  {100 * ok / n:5.1f} %")
        for run in self.runs:
            for r in run.results:
                if not r.passed:
                    lines.append(
                        f"  FAIL {run.scenario} run {run.run} ({run.variation}) turn {r.turn}: {r.detail}"
                    )
            lines.extend(f"  ERROR {run.scenario} run {run.run}: {e}" for e in run.errors)
        checks = [r for run in self.runs for r in run.results]
        passed = sum(r.passed for r in checks)
        lines.append(
            f"overall: {passed}/{len(checks)} checks passed ({100 * passed / max(1, len(checks)):.1f} %)"
        )
        return "\n".join(lines)

    def to_json(self) -> str:
        rates = [
            {"scenario": s, "turn": t, "expectation": e, "passed": ok, "runs": n}
            for (s, t, e), (ok, n) in self.pass_rates().items()
        ]
        return json.dumps({"pass_rates": rates, "runs": [asdict(r) for r in self.runs]}, indent=2)


def synthesize(turn: UserTurn, variation: Variation, seed: int) -> bytes:
    """16 kHz mono int16 audio of one user turn: espeak speech (or the WAV file), plus noise."""
    import numpy as np

    if turn.wav is not None:
        from voiceframe.audio.resample import StreamResampler
        from voiceframe.transports.file import read_wav

        pcm, rate, channels = read_wav(turn.wav)
        if channels != 1:
            from voiceframe.audio.pcm import downmix

            pcm = downmix(pcm, channels).tobytes()
        if rate != 16000:
            resampler = StreamResampler(rate, 16000)
            pcm = resampler.process(pcm) + resampler.flush()
    else:
        from voiceframe_espeak import speak_to_pcm

        pcm = speak_to_pcm(
            turn.say or "", sample_rate=16000, voice=variation.voice, rate_wpm=variation.rate_wpm
        )
    if not variation.noise:
        return pcm
    rng = np.random.default_rng(seed)  # seeded: the same run sounds the same every time
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    audio += rng.normal(0.0, variation.noise, audio.shape)
    return np.clip(audio, -32768, 32767).astype("<i2").tobytes()


def _segment(events: Events, starts: list[float], i: int) -> Events:
    lo = starts[i]
    hi = starts[i + 1] if i + 1 < len(starts) else float("inf")
    return [e for e in events if lo <= e["t"] < hi]


def check(expectation: Expectation, segment: Events) -> tuple[bool, str]:
    """Whether one expectation holds in the events of its turn, and why not."""
    kind, want = expectation.kind, expectation.value
    if kind == "transcript_contains":
        heard = " ".join(e["text"] for e in segment if e["event"] == "transcript")
        return str(want).lower() in heard.lower(), f"transcribed {heard!r}"
    if kind == "bot_says":
        said = " ".join(e["text"] for e in segment if e["event"] == "bot_word")
        return str(want).lower() in said.lower(), f"the user heard {said!r}"
    if kind == "function_called":
        calls = [(e["name"], e.get("arguments") or {}) for e in segment if e["event"] == "function_call"]
        args = want.get("args") or {}
        ok = any(n == want["name"] and all(a.get(k) == v for k, v in args.items()) for n, a in calls)
        return ok, f"calls: {calls or 'none'}"
    if kind == "latency_under":
        turns = [e for e in segment if e["event"] == "turn"]
        if not turns:
            return False, "the bot did not answer"
        total = float(turns[0]["total"])
        return total < float(want), f"voice-to-voice {total:.3f} s (bound {float(want):g} s)"
    if kind == "interruption_handled":
        cut = [e for e in segment if e["event"] == "interruption" and e.get("bot_speaking")]
        if not cut:
            return not want, "the bot was not interrupted"
        at = cut[0]["t"]
        stopped = [e["t"] for e in segment if e["event"] == "bot_stopped" and e["t"] >= at]
        answered = [e["t"] for e in segment if e["event"] == "bot_started" and e["t"] > at]
        quiet = stopped[0] - at if stopped else None
        ok = quiet is not None and quiet <= 0.5 and bool(answered)
        detail = f"bot silent {quiet:.3f} s after the barge-in" if quiet is not None else "bot kept talking"
        return ok == bool(want), detail + ("" if answered else "; no answer to the barge-in")
    raise ValueError(f"unknown expectation {kind!r}")


async def run_scenario(
    scenario: Scenario,
    variation: Variation,
    *,
    config: Any = None,
    tools: dict[str, Any] | None = None,
    run: int = 0,
    workdir: Path,
) -> RunResult:
    """One run of ``scenario`` (call inside a virtual-clock loop); artefacts go to ``workdir``."""
    from voiceframe.bot import build_bot, run_bot
    from voiceframe.demo import DEMO_TOOLS, demo_config
    from voiceframe.evals.user import SimulatedUser
    from voiceframe.observe.recorder import SessionRecorder
    from voiceframe.task import PipelineParams
    from voiceframe.transports.file import WavFileOutput
    from voiceframe.transports.input import Transport

    audio = [
        (synthesize(t, variation, seed=run * 1000 + i), t.pause, t.barge_in)
        for i, t in enumerate(scenario.turns)
    ]
    user = SimulatedUser(audio)
    stem = f"{_slug(scenario.name)}-run{run}"
    transport = Transport(user, WavFileOutput(workdir / f"{stem}.wav"))
    bot = build_bot(config or demo_config(), transport, tools=DEMO_TOOLS if tools is None else tools)
    recorder = SessionRecorder(workdir / f"{stem}.jsonl")
    task = await run_bot(bot, observers=[recorder], params=PipelineParams(16000, 16000))
    result = RunResult(scenario.name, run, variation.describe(), session=str(recorder.path))
    result.errors = [e.error for e in task.errors]
    start = float(recorder.events[0].get("start", 0.0)) if recorder.events else 0.0
    starts = [t - start for t in user.turn_started]
    for i, turn in enumerate(scenario.turns):
        segment = _segment(recorder.events, starts, i) if i < len(starts) else []
        for expectation in turn.expect:
            passed, detail = check(expectation, segment) if segment else (False, "the turn was never spoken")
            result.results.append(ExpectationResult(i + 1, expectation.describe(), passed, detail))
    return result


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "scenario"


def run_evals(
    suite: EvalSuite,
    *,
    tools: dict[str, Any] | None = None,
    record_dir: str | Path | None = None,
    progress: Callable[[RunResult], None] | None = None,
) -> EvalReport:
    """Run every scenario ``suite.runs`` times (cycling the variations) on the virtual clock."""
    from voiceframe.clock import run
    from voiceframe.config import load_config

    config = load_config(suite.config) if suite.config else None
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="voiceframe-eval-") as tmp:
        workdir = Path(record_dir) if record_dir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for scenario in suite.scenarios:
            for n in range(suite.runs):
                variation = suite.variations[n % len(suite.variations)]
                coro = run_scenario(scenario, variation, config=config, tools=tools, run=n, workdir=workdir)
                result = run(coro, virtual=True)
                if not record_dir:
                    result.session = None  # the temporary directory goes away
                runs.append(result)
                if progress is not None:
                    progress(result)
    return EvalReport(runs)
