"""Provider registry, config files and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.services.fakes import FakeScriptedLLM, FakeSettingsTTS
from voiceframe.cli import main
from voiceframe.config import ConfigError, parse_config
from voiceframe.services import registry


@pytest.fixture(autouse=True)
def fake_providers() -> object:
    registry.register("llm", "fake-scripted", FakeScriptedLLM)
    registry.register("tts", "fake-tone", FakeSettingsTTS)
    yield
    registry.unregister("llm", "fake-scripted")
    registry.unregister("tts", "fake-tone")


def test_unknown_provider_lists_what_is_installed() -> None:
    with pytest.raises(
        registry.UnknownProviderError,
        match=r"unknown tts provider 'nope'; installed tts providers: .*fake-tone",
    ):
        registry.load("tts", "nope")
    with pytest.raises(ValueError, match="unknown provider kind 'speech'"):
        registry.load("speech", "x")


CONFIG = """\
[llm]
provider = "fake-scripted"
model = "tiny"

[tts]
provider = "fake-tone"
speed = 1.25
"""


def test_config_builds_services_by_name() -> None:
    cfg = parse_config(CONFIG)
    llm = cfg.build_service("llm")
    tts = cfg.build_service("tts")
    assert isinstance(llm, FakeScriptedLLM) and llm.settings.model == "tiny"
    assert isinstance(tts, FakeSettingsTTS) and tts.settings.speed == 1.25


def test_config_errors_point_at_the_line_and_key(tmp_path: Path) -> None:
    bad_value = CONFIG.replace("speed = 1.25", 'speed = "fast"')
    with pytest.raises(ConfigError, match=r"<config>:7 \[tts\]\.speed: .*valid number"):
        parse_config(bad_value).build_service("tts")
    unknown_key = CONFIG.replace('model = "tiny"', 'modle = "tiny"')
    with pytest.raises(ConfigError, match=r"<config>:3 \[llm\]\.modle: .*unknown setting; known settings"):
        parse_config(unknown_key).build_service("llm")
    unknown_provider = CONFIG.replace("fake-tone", "cartoonia")
    with pytest.raises(ConfigError, match=r"<config>:6 \[tts\]\.provider: unknown tts provider 'cartoonia'"):
        parse_config(unknown_provider).build_service("tts")
    with pytest.raises(ConfigError, match=r"<config>:1 \[sst\]: unknown section"):
        parse_config("[sst]\nprovider='x'\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[llm\n")
    path = tmp_path / "bot.toml"
    path.write_text(bad_value)
    from voiceframe.config import load_config

    with pytest.raises(ConfigError, match=r"bot.toml:7 \[tts\]\.speed"):
        load_config(path).build_service("tts")


def test_cli_lists_plugins_with_settings_and_checks_configs(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["plugins"]).output
    assert "tts.fake-tone" in out and "speed: float, default 1.0" in out
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG + '\n[stt]\nprovider = "pocketsphinx"\n')  # check needs every section
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0 and "[llm] fake-scripted" in result.output
    path.write_text(CONFIG.replace("1.25", "'x'"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2 and "bot.toml:7 [tts].speed" in result.output
