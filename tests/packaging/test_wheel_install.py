"""A newcomer's install: wheels built from this tree, plain ``pip install`` into a fresh venv, the demo runs.

Nothing from the development venv leaks in: the fresh venv has no system site-packages, no editable
installs, no silero-vad and no pipecat-ai, so the Silero model must come from inside the voiceframe wheel
and the offline plugins must be found by name in the wheel folder. pip may fetch the third-party
dependencies (numpy, onnxruntime, pocketsphinx...) from the index; its cache makes reruns quick.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import venv
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
OFFLINE_DISTRIBUTIONS = ("voiceframe-espeak", "voiceframe-pocketsphinx", "voiceframe-scripted")

pytestmark = pytest.mark.slow


def _run(cmd: list[str | Path], *, cwd: Path, timeout: float, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: none of this venv's variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_wheels_install_with_plain_pip_and_the_demo_answers(tmp_path: Path) -> None:
    from voiceframe.demo import DEMO_SCRIPT, make_script_wav

    env = _clean_env()
    timings: dict[str, float] = {}
    start = time.monotonic()

    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, ROOT, *PLUGINS],
        cwd=tmp_path,
        timeout=150,
        env=env,
    )
    built = sorted(w.name.split("-")[0] for w in wheels.glob("*.whl"))
    expected = sorted(["voiceframe", *(f"voiceframe_{p.name}" for p in PLUGINS)])
    assert built == expected
    timings["build wheels"] = time.monotonic() - start

    mark = time.monotonic()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bin_dir = env_dir / "bin"
    _run(
        [bin_dir / "pip", "install", "--quiet", "voiceframe[offline]", "--find-links", wheels],
        cwd=tmp_path,
        timeout=180,
        env=env,
    )
    timings["venv + pip install"] = time.monotonic() - mark

    installed = _run([bin_dir / "pip", "list", "--format=freeze"], cwd=tmp_path, timeout=60, env=env).lower()
    for dist in OFFLINE_DISTRIBUTIONS:
        assert f"{dist}==0.1.0" in installed
    assert "silero-vad" not in installed and "pipecat-ai" not in installed and "torch" not in installed
    assert " @ file" not in installed and "-e " not in installed  # wheels, not editable checkouts

    # the model comes from inside the installed voiceframe wheel, next to its licence
    locate = "from voiceframe.audio.vad.model_files import silero_vad_path; print(silero_vad_path())"
    where = _run(
        [bin_dir / "python", "-c", locate],
        cwd=tmp_path,
        timeout=60,
        env=env,
    ).strip()
    model = Path(where)
    assert model.is_relative_to(env_dir) and model.parts[-5:-1] == ("voiceframe", "audio", "vad", "data")
    assert "MIT License" in (model.parent / "LICENSE-silero-vad.txt").read_text()

    plugins = _run([bin_dir / "voiceframe", "plugins"], cwd=tmp_path, timeout=60, env=env)
    for provider in ("stt.pocketsphinx", "llm.scripted", "tts.espeak"):
        assert provider in plugins

    mark = time.monotonic()
    user_wav = tmp_path / "user.wav"
    make_script_wav(user_wav)  # the demo's own conversation, spoken by this tree's espeak plugin
    reply = tmp_path / "out" / "reply.wav"
    reply.parent.mkdir()
    out = _run(
        [bin_dir / "voiceframe", "demo", "--input", user_wav, "--output", reply],
        cwd=tmp_path,
        timeout=120,
        env=env,
    )
    timings["demo on a WAV"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - start

    heard = re.findall(r"user: (.+)", out)
    assert heard == [text for _, text in DEMO_SCRIPT], out
    answers = re.findall(r"bot \(answered in [\d.]+ s\)[^:]*: (.+)", out)
    assert len(answers) == len(DEMO_SCRIPT), out
    assert not any("did not catch" in a for a in answers), out
    with wave.open(str(reply), "rb") as w:
        rate, samples = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), np.int16)
    voiced = np.count_nonzero(np.abs(samples) > 1000) / rate
    assert voiced > 5.0, f"the reply has only {voiced:.1f} s of loud audio"

    print("wheel install timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
