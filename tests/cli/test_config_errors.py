"""One validation: every bad config gives the same lines and exit code in `check` and in `run`.

`run` must reject it before any audio flows (no conversation line is printed), and nothing prints a
traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import assert_no_traceback, invoke
from voiceframe.config import (
    SECTION_MODELS,
    ConfigError,
    ServiceSection,
    load_valid_config,
    parse_config,
    validate_config,
)

GOOD = """\
[bot]
greeting = "Hi."

[vad]
stop_secs = 0.6

[turn]
strategy = "vad"

[stt]
provider = "pocketsphinx"
grammar = ["hello", "goodbye"]

[llm]
provider = "scripted"

[tts]
provider = "espeak"
voice = "en-us"
"""

# name -> (config text, the lines the user must see)
BAD = {
    "missing [llm]": (
        GOOD.replace('[llm]\nprovider = "scripted"\n', ""),
        ['bot.toml [llm]: missing; add [llm] with provider = "..."'],
    ),
    "stop_secs is text": (
        GOOD.replace("stop_secs = 0.6", 'stop_secs = "long"'),
        ["bot.toml:5 [vad].stop_secs: Input should be a valid number"],
    ),
    "unknown strategy": (
        GOOD.replace('strategy = "vad"', 'strategy = "smartturn"'),
        ["bot.toml:8 [turn].strategy: Input should be 'vad', 'smart_turn', 'combined' or 'transcript'"],
    ),
    "rate out of range": (
        GOOD + "rate_wpm = 5000\n",
        ["bot.toml:20 [tts].rate_wpm: Input should be less than or equal to 450"],
    ),
    "unknown voice": (
        GOOD.replace('voice = "en-us"', 'voice = "klingonese"'),
        [
            "bot.toml:19 [tts].voice: unknown espeak-ng voice 'klingonese'; did you mean piqd (Klingon)?",
            "list them with: voiceframe voices espeak",
        ],
    ),
    "missing API keys, all at once": (
        GOOD.replace('"pocketsphinx"\ngrammar = ["hello", "goodbye"]', '"deepgram"')
        .replace('"scripted"', '"openai"\nfallback = "anthropic"')
        .replace('provider = "espeak"\nvoice = "en-us"', 'provider = "elevenlabs"'),
        [
            "bot.toml:11 [stt].provider: deepgram needs an API key; "
            "set the environment variable DEEPGRAM_API_KEY",
            "bot.toml:14 [llm].provider: openai needs an API key; "
            "set the environment variable OPENAI_API_KEY",
            "bot.toml:15 [llm].fallback: anthropic needs an API key; "
            "set the environment variable ANTHROPIC_API_KEY",
            "bot.toml:18 [tts].provider: elevenlabs needs an API key; "
            "set the environment variable ELEVENLABS_API_KEY",
        ],
    ),
    "several problems together": (
        GOOD.replace("stop_secs = 0.6", "stop_secs = -1").replace("[bot]", "[bots]"),
        [
            "bot.toml:1 [bots]: unknown section",
            "bot.toml:5 [vad].stop_secs: Input should be greater than or equal to 0",
        ],
    ),
}


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("case", list(BAD))
def test_check_and_run_reject_a_bad_config_with_the_same_lines(
    case: str, tmp_path: Path, hello_wav: Path
) -> None:
    text, expected = BAD[case]
    config = tmp_path / "bot.toml"
    config.write_text(text)
    check = invoke("check", str(config))
    run = invoke("run", str(config), "--input", str(hello_wav), "--fast")
    demo = invoke("demo", "--config", str(config), "--input", str(hello_wav))
    for result in (check, run, demo):
        assert result.exit_code == 2, result.output
        assert_no_traceback(result)
    lines = error_lines(check.stderr)
    assert lines and lines == error_lines(run.stderr) == error_lines(demo.stderr)
    assert len(lines) == len([e for e in expected if e.startswith("bot.toml")])  # one line per problem
    for want in expected:
        assert any(want in line for line in lines), (want, lines)
    assert "user:" not in run.stdout and "bot" not in run.stdout  # rejected before any audio flowed
    assert list(tmp_path.iterdir()) == [config]  # and nothing was written


def test_a_good_config_passes_check(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(GOOD)
    result = invoke("check", str(config))
    assert result.exit_code == 0, result.output
    assert "[stt] pocketsphinx: ok" in result.stdout and "bot.toml: ok" in result.stdout


def test_klingon_is_a_real_espeak_voice_and_is_accepted(tmp_path: Path) -> None:
    # espeak-ng ships a Klingon voice (art/piqd); it speaks differently from en-us (see the plugin tests)
    config = tmp_path / "bot.toml"
    config.write_text(GOOD.replace('voice = "en-us"', 'voice = "klingon"'))
    assert invoke("check", str(config)).exit_code == 0
    listing = invoke("voices", "espeak")
    assert listing.exit_code == 0 and "piqd" in listing.stdout and "en-us" in listing.stdout


def test_validate_config_collects_every_problem_into_one_error() -> None:
    config = parse_config(BAD["missing API keys, all at once"][0])
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert len(info.value.problems) == 4
    assert str(info.value) == "\n".join(info.value.problems)


def test_load_valid_config_without_a_path_is_the_demo_bot() -> None:
    config = load_valid_config(None)
    assert config.service_spec("stt").provider == "pocketsphinx"
    assert config.vad.stop_secs == 0.6 and config.turn.strategy == "vad"


def test_a_missing_file_and_a_non_text_file_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "bot.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    result = invoke("check", str(binary))
    assert result.exit_code == 2 and error_lines(result.stderr) == [
        f"error: {binary}: not a text file (a bot config is TOML)"
    ]
    missing = invoke("check", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    assert_no_traceback(missing)


def test_every_section_model_and_field_is_described() -> None:
    assert set(SECTION_MODELS) == {"bot", "vad", "turn", "transport"}
    for model in [*SECTION_MODELS.values(), ServiceSection]:
        assert model.__doc__
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name}"
