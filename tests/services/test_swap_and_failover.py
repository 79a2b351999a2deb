"""Providers swapped by config, and a provider dying mid-call, through the whole demo pipeline.

The OpenAI plugin (real SDK, real HTTP) talks to a local server that speaks OpenAI's API on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voiceframe.bot import build_bot, run_bot
from voiceframe.clock import virtual_time
from voiceframe.config import parse_config
from voiceframe.demo import DEMO_CONFIG, DEMO_TOOLS, make_script_wav
from voiceframe.observe.conversation import ConversationLog
from voiceframe.task import PipelineParams, TaskState
from voiceframe.transports.file import FileTransport

testing = pytest.importorskip("voiceframe_openai.testing", reason="needs plugins/openai")

SCRIPT = [(7.0, "hello"), (6.0, "tell me something funny"), (7.0, "goodbye")]


def config_with(section: str, body: str) -> str:
    """The demo config with one section's body replaced."""
    head, _, rest = DEMO_CONFIG.partition(f"[{section}]\n")
    _, _, tail = rest.partition("\n[")
    return f"{head}[{section}]\n{body}\n\n[{tail}" if tail else f"{head}[{section}]\n{body}\n"


async def converse(config_text: str, tmp_path: Path, name: str, during: object = None) -> ConversationLog:
    user_wav = tmp_path / "user.wav"
    if not user_wav.exists():
        make_script_wav(user_wav, SCRIPT)
    log = ConversationLog()
    bot = build_bot(
        parse_config(config_text), FileTransport(user_wav, tmp_path / f"{name}.wav"), tools=DEMO_TOOLS
    )
    side = asyncio.ensure_future(during(bot)) if callable(during) else None  # type: ignore[arg-type]
    with virtual_time():  # the local server answers at once, so loopback I/O and virtual time mix well
        task = await asyncio.wait_for(run_bot(bot, observers=[log], params=PipelineParams(16000, 16000)), 120)
    if side is not None:
        await side
    assert task.state is TaskState.ENDED, task.errors
    return log


async def test_swapping_the_tts_provider_is_one_line_and_keeps_the_turn_structure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with testing.FakeOpenAIServer(api_key="sk-test") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        espeak = config_with("tts", 'provider = "espeak"')
        openai = config_with("tts", 'provider = "openai"')
        diff = [(a, b) for a, b in zip(espeak.splitlines(), openai.splitlines(), strict=True) if a != b]
        assert diff == [('provider = "espeak"', 'provider = "openai"')]
        logs = [
            await converse(text, tmp_path, name) for text, name in ((espeak, "espeak"), (openai, "openai"))
        ]
        assert server.seen("/audio/speech")  # the second run really used the OpenAI plugin
    structure = [[(t.user_text, t.bot_text, t.tools) for t in log.turns] for log in logs]
    assert structure[0] == structure[1]
    assert [t.user_text for t in logs[0].turns[1:]] == [text for _, text in SCRIPT]


async def test_primary_llm_dies_mid_call_and_the_secondary_serves_the_next_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = testing.FakeOpenAIServer(api_key="sk-test")
    await server.start()
    server.chat.append(testing.ChatScript(text=["Hello", " from", " the", " cloud."]))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    text = config_with(
        "llm", 'provider = "openai"\nmax_retries = 0\nfallback = ["scripted"]\nfallback_timeout = 3.0'
    )

    async def kill_server_after_first_answer(bot: object) -> None:
        while not server.seen("/chat/completions"):  # noqa: ASYNC110 - the fake server offers no event
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)
        await server.stop()  # the provider goes away in the middle of the call

    try:
        log = await converse(text, tmp_path, "failover", during=kill_server_after_first_answer)
    finally:
        await server.stop()
    _greeting, hello, funny, bye = log.turns
    assert hello.bot_text == "Hello from the cloud."  # served by the primary
    assert funny.bot_text.startswith("Why did the robot")  # the secondary took over
    assert bye.bot_text.startswith("Goodbye")  # and the call went on
