"""docs/configuration.md is generated from the models and cannot drift from them."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import BaseModel

from voiceframe import docs_config
from voiceframe.config import SECTION_MODELS, SERVICE_SECTIONS
from voiceframe.services.registry import GROUP

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"


pytestmark = pytest.mark.slow  # one fresh process that imports every plugin: ~3 s


@functools.cache
def _generated() -> str:
    # a fresh process: providers registered in code by other tests must not show up
    proc = subprocess.run(
        [sys.executable, "-m", "voiceframe.docs_config"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return proc.stdout


def test_checked_in_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == _generated(), (
        f"docs/configuration.md is out of date; regenerate it: {docs_config.REGENERATE}"
    )


def _keys_under(text: str, heading: str) -> set[str]:
    """Keys in the table under ``heading`` (up to the next heading)."""
    start = text.index(heading + "\n")
    end = text.find("\n#", start + len(heading))
    body = text[start : end if end != -1 else None]
    return set(re.findall(r"^\| `([^`]+)` \|", body, re.M))


def test_every_section_and_provider_key_is_documented() -> None:
    text = _generated()
    for section, model in SECTION_MODELS.items():
        assert _keys_under(text, f"## [{section}]") == set(model.model_fields), section
    installed = [ep for ep in metadata.entry_points(group=GROUP) if ep.name.split(".")[0] in SERVICE_SECTIONS]
    assert installed, "no provider plugins installed"
    for ep in installed:
        kind, _, name = ep.name.partition(".")
        settings = getattr(ep.load(), "Settings", None)
        heading = f'### [{kind}] provider = "{name}"'
        assert heading in text
        if isinstance(settings, type) and issubclass(settings, BaseModel):
            assert _keys_under(text, heading) == set(settings.model_fields), ep.name


def test_secrets_show_their_environment_variable_not_a_default() -> None:
    text = _generated()
    row = next(line for line in text.splitlines() if line.startswith("| `api_key` |") and "OPENAI" in line)
    assert "environment variable `OPENAI_API_KEY`" in row


def test_rows_describe_type_default_and_range() -> None:
    rows = {r.key: r for r in docs_config.model_keys(SECTION_MODELS["vad"])}
    assert rows["stop_secs"].type == "float (>= 0.0, <= 30.0)"
    assert rows["stop_secs"].default == "0.8"
    assert rows["stop_secs"].description
    turn = {r.key: r for r in docs_config.model_keys(SECTION_MODELS["turn"])}
    assert turn["strategy"].type.startswith("one of ") and '"smart_turn"' in turn["strategy"].type
    assert turn["backchannels"].default == "[]"


def test_the_reference_example_is_the_readme_bot() -> None:
    # the README runs its bot.toml on the demo's WAV; the reference shows the same file
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "```toml file=bot.toml\n" + docs_config.EXAMPLE + "```" in readme
