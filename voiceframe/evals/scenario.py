"""The scenarios file::

config: bot.toml          # optional: a bot config; default: the offline demo bot
runs: 3                   # each scenario runs this often, cycling through the variations
variations:               # how the simulated user sounds (defaults: three voices/speeds/noise)
  - {voice: en-us, rate_wpm: 140, noise: 0}
  - {voice: en-gb, rate_wpm: 150, noise: 150}   # noise: RMS of added white noise (int16 units)
scenarios:
  - name: weather
    turns:
      - say: what is the weather           # spoken with espeak; or  wav: path/to/turn.wav
        pause: 1.0                         # quiet seconds after the bot finished (default 1.0)
        expect:
          transcript_contains: weather
          bot_says: sunny
          function_called: {name: get_weather, args: {city: Paris}}
          latency_under: 2.0               # seconds, user's speech end -> first bot audio
  - name: barge-in
    turns:
      - say: tell me something funny
      - say: hello
        barge_in: 1.0                      # start 1 s after the bot began answering
        expect: {interruption_handled: true}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EvalSuite", "Expectation", "Scenario", "UserTurn", "Variation", "load_suite"]

EXPECTATIONS = ("transcript_contains", "bot_says", "function_called", "interruption_handled", "latency_under")


class ScenarioError(ValueError):
    """The scenarios file is not valid; the message says where."""


@dataclass(slots=True)
class Expectation:
    """One check on one user turn."""

    kind: str
    value: Any

    def describe(self) -> str:
        return f"{self.kind}: {self.value}"


@dataclass(slots=True)
class UserTurn:
    say: str | None = None
    wav: Path | None = None
    pause: float = 1.0
    barge_in: float | None = None
    expect: list[Expectation] = field(default_factory=list)


@dataclass(slots=True)
class Scenario:
    name: str
    turns: list[UserTurn]


@dataclass(slots=True)
class Variation:
    """How the simulated user sounds in one run."""

    voice: str = "en-us"
    rate_wpm: int = 140
    noise: float = 0.0

    def describe(self) -> str:
        return f"{self.voice} {self.rate_wpm} wpm noise {self.noise:g}"


DEFAULT_VARIATIONS = [
    Variation("en-us", 140, 0.0),
    Variation("en-gb", 150, 100.0),
    Variation("en-us", 130, 200.0),
]


@dataclass(slots=True)
class EvalSuite:
    scenarios: list[Scenario]
    runs: int = 3
    variations: list[Variation] = field(default_factory=lambda: list(DEFAULT_VARIATIONS))
    config: Path | None = None


def _expectations(where: str, raw: Any) -> list[Expectation]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}.expect: a mapping of checks, e.g. {{transcript_contains: hello}}")
    out = []
    for kind, value in raw.items():
        if kind not in EXPECTATIONS:
            raise ScenarioError(f"{where}.expect.{kind}: unknown check; known: {', '.join(EXPECTATIONS)}")
        if kind == "function_called" and isinstance(value, str):
            value = {"name": value}
        if kind == "function_called" and not (isinstance(value, dict) and "name" in value):
            raise ScenarioError(f"{where}.expect.function_called: needs a name (and optional args)")
        if kind == "latency_under" and not isinstance(value, int | float):
            raise ScenarioError(f"{where}.expect.latency_under: seconds, a number")
        out.append(Expectation(kind, value))
    return out


def parse_suite(data: Any, base: Path = Path(".")) -> EvalSuite:
    """Validate a parsed scenarios document; relative paths are resolved against ``base``."""
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list) or not data["scenarios"]:
        raise ScenarioError("the file needs a non-empty 'scenarios' list")
    scenarios = []
    for i, raw in enumerate(data["scenarios"]):
        name = str(raw.get("name", f"scenario {i + 1}")) if isinstance(raw, dict) else ""
        if not isinstance(raw, dict) or not isinstance(raw.get("turns"), list) or not raw["turns"]:
            raise ScenarioError(f"scenarios[{i}]: needs a non-empty 'turns' list")
        turns = []
        for j, t in enumerate(raw["turns"]):
            where = f"{name}.turns[{j}]"
            if not isinstance(t, dict) or ("say" in t) == ("wav" in t):
                raise ScenarioError(f"{where}: give exactly one of 'say' (text) or 'wav' (a file)")
            wav = base / str(t["wav"]) if "wav" in t else None
            if wav is not None and not wav.is_file():
                raise ScenarioError(f"{where}.wav: {wav} does not exist")
            barge = t.get("barge_in")
            turns.append(
                UserTurn(
                    say=str(t["say"]) if "say" in t else None,
                    wav=wav,
                    pause=float(t.get("pause", 1.0)),
                    barge_in=float(barge) if barge is not None else None,
                    expect=_expectations(where, t.get("expect")),
                )
            )
        scenarios.append(Scenario(name, turns))
    variations = [Variation(**v) for v in data.get("variations") or []] or list(DEFAULT_VARIATIONS)
    config = base / str(data["config"]) if data.get("config") else None
    return EvalSuite(scenarios, int(data.get("runs", 3)), variations, config)


def load_suite(path: str | Path) -> EvalSuite:
    """Read a scenarios YAML file."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - PyYAML comes with the test and bench setups
        raise ScenarioError(f"reading scenarios needs PyYAML ({exc}): pip install pyyaml") from None
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_suite(data, path.parent)
