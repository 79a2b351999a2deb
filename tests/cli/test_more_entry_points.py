"""The other entry points: eval checks its bot config first, demo --record names each browser session,
and a long silent input on the real clock is announced while it plays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import assert_no_traceback, invoke


def test_eval_rejects_a_bad_bot_config_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text(
        '[stt]\nprovider = "pocketsphinx"\n[tts]\nprovider = "espeak"\npitch = 500\n'
    )
    (tmp_path / "evals.yaml").write_text(
        "config: bot.toml\nruns: 1\nscenarios:\n  - name: hi\n    turns:\n      - say: hello\n"
        "        expect:\n          transcript_contains: hello\n"
    )
    result = invoke("eval", "evals.yaml")
    assert result.exit_code == 2, result.output
    assert "error: bot.toml:5 [tts].pitch: Input should be less than or equal to 99" in result.stderr
    assert "error: bot.toml [llm]: missing" in result.stderr
    assert "pass" not in result.stdout and "FAIL" not in result.stdout  # no scenario ran
    assert_no_traceback(result)
    bad_rate = invoke("eval", "evals.yaml", "--min-pass-rate", "2")
    assert (
        bad_rate.exit_code == 2
        and "'--min-pass-rate': 2.0 is not in the range 0.0<=x<=1.0" in bad_rate.stderr
    )


async def test_demo_record_names_each_browser_session(tmp_path: Path) -> None:
    from voiceframe.cli import _recording
    from voiceframe.observe.recorder import SessionRecorder

    seen: list[list[Any]] = []

    async def factory(transport: Any, observers: list[Any], idle_timeout: float | None) -> str:
        seen.append(observers)
        return "task"

    recorded = _recording(factory, tmp_path / "session.jsonl")
    for _ in range(3):
        assert await recorded(None, ["events"], None) == "task"
    paths = [obs[-1].path.name for obs in seen]
    assert paths == ["session.jsonl", "session-2.jsonl", "session-3.jsonl"]
    assert all(obs[0] == "events" and isinstance(obs[-1], SessionRecorder) for obs in seen)


def test_a_long_silent_input_is_announced_while_it_plays_on_the_real_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from voiceframe.bot import build_bot
    from voiceframe.cli import _session
    from voiceframe.clock import new_virtual_loop
    from voiceframe.config import load_valid_config
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.observe.conversation import ConversationLog
    from voiceframe.transports.file import FileTransport, write_wav

    write_wav(tmp_path / "quiet.wav", bytes(2 * 16000 * 70), 16000)
    log = ConversationLog()
    bot = build_bot(
        load_valid_config(None), FileTransport(tmp_path / "quiet.wav", tmp_path / "r.wav"), tools=DEMO_TOOLS
    )
    loop = new_virtual_loop()  # realtime=True paces the notices by the clock; virtual time keeps it fast
    try:
        loop.run_until_complete(_session(bot, [log], log, str(tmp_path / "quiet.wav"), realtime=True))
    finally:
        loop.close()
    out = capsys.readouterr().out
    assert "(no speech heard in the first 30 s of quiet.wav; still listening)" in out
    assert "(no speech heard in the first 60 s of quiet.wav; still listening)" in out
    assert "first 120 s" not in out  # the session ended (70 s of input) before that notice was due
