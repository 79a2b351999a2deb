"""The ``voiceframe`` command (guide: docs/cli.md).

* ``voiceframe plugins``: installed providers and their settings; ``voiceframe voices espeak``: voices.
* ``voiceframe check bot.toml``: everything ``run`` checks, without running (same message, same exit code).
* ``voiceframe run bot.toml --input in.wav``: run the pipeline a config file describes on a WAV file.
* ``voiceframe demo``: the offline demo agent (browser page over WebRTC, or WAV files).

Exit codes: 0 done (warnings, such as a provider that failed over to its backup, are printed), 1 the
session failed, 2 a user mistake (bad argument, bad file, bad config), reported as ``error:`` lines.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from voiceframe.cli_params import OutputFile, WavInput

if TYPE_CHECKING:
    from voiceframe.config import BotConfig

#: exit code of a user mistake (click uses 2 for bad arguments too)
USER_ERROR = 2


@click.group()
@click.version_option(package_name="voiceframe")
def main() -> None:
    """voiceframe: real-time voice agents from typed frames and composable processors."""


def fail(lines: list[str] | str) -> NoReturn:
    """Print each problem as an ``error:`` line on stderr and exit with the user-mistake code."""
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(USER_ERROR)


def valid_config(path: str | Path | None) -> BotConfig:
    """The validated config (None: the demo's), or every problem printed and exit 2."""
    from voiceframe.config import ConfigError, load_valid_config

    try:
        return load_valid_config(path)
    except ConfigError as exc:
        fail(exc.problems)


def echo_line(line: str) -> None:
    """Print a conversation line; a closed pipe (``| head``) silences the rest instead of failing."""
    import os

    try:
        click.echo(line)
    except BrokenPipeError:
        # the reader went away: send the rest of stdout nowhere, as `cat file | head` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def describe_settings(cls: Any) -> list[str]:
    """One line per setting: name, type, default; secrets show the environment variable."""
    settings = getattr(cls, "Settings", None)
    if settings is None:
        return []
    secret_env: dict[str, str] = getattr(settings, "secret_env", {})
    lines = []
    for field_name, info in settings.model_fields.items():
        if field_name in secret_env:
            lines.append(f"{field_name}: from environment variable {secret_env[field_name]}")
            continue
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation)
        annotation = annotation.replace("typing.", "").replace("NoneType", "None")
        default = "required" if info.is_required() else f"default {info.default!r}"
        lines.append(f"{field_name}: {annotation}, {default}")
    return lines


@main.command()
@click.option("--kind", type=click.Choice(["stt", "llm", "tts", "vad", "turn", "transport"]), default=None)
def plugins(kind: str | None) -> None:
    """List installed providers with their settings."""
    from voiceframe.services.registry import discover, load

    found = discover()
    if not found:
        click.echo("no providers installed (install a plugin, e.g. pip install -e plugins/espeak)")
        return
    for (k, name), info in found.items():
        if kind and k != kind:
            continue
        click.echo(f"{k}.{name}  ({info.distribution or 'registered in code'}: {info.target})")
        try:
            cls = load(k, name)
        except Exception as exc:  # a broken plugin must not hide the others
            click.echo(f"    cannot load: {type(exc).__name__}: {exc}")
            continue
        for line in describe_settings(cls):
            click.echo(f"    {line}")


@main.command()
@click.argument("provider")
def voices(provider: str) -> None:
    """List the voices of a TTS PROVIDER that knows them locally (e.g. espeak)."""
    from voiceframe.services.registry import UnknownProviderError, load

    try:
        cls = load("tts", provider)
    except UnknownProviderError as exc:
        fail(str(exc))
    listing = getattr(cls, "available_voices", None)
    if listing is None:
        fail(f"{provider} cannot list its voices offline; see its documentation")
    for tag, name in listing():
        click.echo(f"{tag:20s} {name}")


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
def check(config: str) -> None:
    """Check a bot config file exactly as `run` does, without running it.

    Sections, settings and their ranges, providers, voices, model files and API keys: every problem is
    printed, one line each, and the exit code is 2 if there is any (the same lines and code as `run`).
    """
    cfg = valid_config(config)
    for section in ("stt", "llm", "tts"):
        spec = cfg.service_spec(section)
        backups = f" (fallback: {', '.join(name for name, _, _ in spec.backups)})" if spec.backups else ""
        click.echo(f"[{section}] {spec.provider}{backups}: ok")
    click.echo(f"[turn] strategy {cfg.turn.strategy}; [vad] stop_secs {cfg.vad.stop_secs:g}")
    click.echo(f"{config}: ok")


# --------------------------------------------------------------------------- file runs


_run_folder: list[Path] = []


def _default_output(output_path: Path | None, what: str) -> Path:
    """Where a file goes when the user did not say: one temporary folder per command, never the working
    directory (the path is printed)."""
    if output_path is not None:
        return output_path
    if not _run_folder:
        _run_folder.append(Path(tempfile.mkdtemp(prefix="voiceframe-")))
    return _run_folder[0] / what


def _run_files(
    config_path: str | None,
    input_path: str,
    output_path: Path | None,
    record_path: Path | None,
    *,
    virtual: bool,
) -> None:
    from voiceframe.bot import build_bot
    from voiceframe.clock import run
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.observe.conversation import ConversationLog
    from voiceframe.transports.file import FileTransport

    config = valid_config(config_path)
    output = _default_output(output_path, "reply.wav")
    try:
        transport = FileTransport(input_path, output, end_after_silence=config.transport.end_after_silence)
        bot = build_bot(config, transport, tools=DEMO_TOOLS)
    except ValueError as exc:  # ConfigError included: whatever the checks could not foresee
        fail(str(exc))
    log = ConversationLog(on_line=echo_line)
    observers: list[Any] = [log]
    if record_path is not None:
        from voiceframe.observe.recorder import SessionRecorder

        observers.append(SessionRecorder(record_path))
    try:
        task = run(_session(bot, observers, log, input_path, realtime=not virtual), virtual=virtual)
    except KeyboardInterrupt:
        click.echo("stopped (Ctrl-C)", err=True)
        sys.exit(130)
    _report(task, bot, log, transport, input_path, output, record_path)


async def _session(bot: Any, observers: list[Any], log: Any, input_path: str, *, realtime: bool) -> Any:
    """Run the bot; on the real clock, say so while nothing has been heard for a long time."""
    import asyncio

    from voiceframe.bot import run_bot
    from voiceframe.task import PipelineParams

    async def notice_silence() -> None:
        waited = 0.0
        for step in (30.0, 30.0, 60.0, 120.0, 240.0, 480.0):
            await asyncio.sleep(step)
            waited += step
            if log.speech_starts:
                return
            click.echo(
                f"(no speech heard in the first {waited:.0f} s of {Path(input_path).name}; still listening)"
            )

    watcher = asyncio.ensure_future(notice_silence()) if realtime else None
    try:
        return await run_bot(bot, observers=observers, params=PipelineParams(16000, 16000))
    finally:
        if watcher is not None:
            watcher.cancel()


def _report(
    task: Any, bot: Any, log: Any, transport: Any, input_path: str, output: Path, record: Path | None
) -> None:
    from voiceframe.services.fallback import FallbackService
    from voiceframe.task import TaskState

    latencies = [t.latency for t in log.user_turns if t.latency is not None]
    if latencies:
        click.echo(
            f"{len(latencies)} answered turns; latency (end of user speech -> first bot audio): "
            f"median {sorted(latencies)[len(latencies) // 2]:.2f} s, max {max(latencies):.2f} s"
        )
    notice = _nothing_heard(log, transport, input_path)
    if notice:
        click.echo(notice)
    click.echo(f"reply audio written to {output}")
    if record is not None:
        click.echo(f"session recorded to {record} (plot it: voiceframe timeline {record} -o timeline.png)")
    # a provider that failed while its backup took over is a warning: the user was answered
    fallbacks = {s.name for s in (bot.stt, bot.llm, bot.tts) if isinstance(s, FallbackService)}
    recovered = [e for e in task.errors if not e.fatal and e.processor in fallbacks]
    failed = [e for e in task.errors if e not in recovered]
    for error in recovered:
        click.echo(f"warning: {error.error}", err=True)
    for error in failed:
        click.echo(f"error: {error.error}", err=True)
    if failed or task.state is not TaskState.ENDED:
        sys.exit(1)


def _nothing_heard(log: Any, transport: Any, input_path: str) -> str | None:
    """A notice when the whole input gave no speech, or speech but no words (None otherwise)."""
    name = Path(input_path).name
    if any(t.user_text for t in log.user_turns):
        return None
    source = transport.input()
    seconds = len(source.audio) / (2 * source.file_channels * source.file_rate)
    if log.speech_starts or log.user_turns:
        return (
            f"speech heard in {name} but no words recognised ({seconds:.1f} s of audio): "
            "check the STT's language and, for pocketsphinx, its grammar"
        )
    from voiceframe.audio.volume import rms_dbfs

    loudest = _loudest_dbfs(source.audio, source.file_rate * source.file_channels, rms_dbfs)
    if loudest is None or loudest < -90:
        level = "; it is silent"
    else:
        level = f"; its loudest second is {loudest:.0f} dBFS"
    return (
        f"no speech heard in {name} ({seconds:.1f} s of audio{level}): the VAD needs speech louder than "
        "about -50 dBFS ([vad] min_volume, confidence); check the file and the microphone level"
    )


def _loudest_dbfs(pcm: bytes, samples_per_second: int, rms_dbfs: Any) -> float | None:
    step = 2 * samples_per_second
    levels = [
        rms_dbfs(pcm[i : i + step]) for i in range(0, len(pcm) - 1, step) if len(pcm[i : i + step]) >= 2
    ]
    return max(levels) if levels else None


# --------------------------------------------------------------------------- the browser demo


def _serve_webrtc(
    config_path: str | None, host: str, port: int, max_sessions: int, record: Path | None
) -> None:
    import asyncio

    try:
        from voiceframe.transports.webrtc import WebRTCServer, bot_session_factory
    except ImportError as exc:
        fail(f"the browser demo needs aiortc ({exc}): pip install 'voiceframe[webrtc]'")
    from voiceframe.demo import DEMO_TOOLS

    config = valid_config(config_path)  # a bad config refuses to start: nothing is served
    from voiceframe.log import setup_logging

    setup_logging("INFO")  # one line per failed session; tracebacks only at DEBUG
    factory = bot_session_factory(config, DEMO_TOOLS)
    if record is not None:
        factory = _recording(factory, record)
    server = WebRTCServer(factory, max_sessions=max_sessions)

    async def serve() -> None:
        try:
            url = await server.serve(host, port)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror}; try another --port")
        click.echo(f"voiceframe demo: open {url} in a browser, press Start talking and say hello")
        click.echo("(Ctrl-C to stop)")
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        click.echo("stopped")


def _recording(factory: Any, record: Path) -> Any:
    """Wrap a session factory so each session is recorded: ``record``, then ``<stem>-2<suffix>``..."""
    from voiceframe.observe.recorder import SessionRecorder

    count = 0

    async def recorded(transport: Any, observers: list[Any], idle_timeout: float | None) -> Any:
        nonlocal count
        count += 1
        path = record if count == 1 else record.with_name(f"{record.stem}-{count}{record.suffix}")
        click.echo(f"recording session {count} to {path}")
        return await factory(transport, [*observers, SessionRecorder(path)], idle_timeout)

    return recorded


_RECORD = click.option(
    "--record",
    "record_path",
    type=OutputFile(),
    default=None,
    help="write the session's events (JSON lines) here, for `voiceframe timeline`",
)


@main.command()
@click.option("--input", "input_path", type=WavInput(), help="WAV file to answer (any rate, mono or stereo)")
@click.option(
    "--output", "output_path", type=OutputFile(".wav"), default=None, help="reply WAV [a temp folder]"
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="bot config (TOML) instead of the demo's; checked before anything starts",
)
@click.option("--script", is_flag=True, help="speak a made-up conversation with espeak and answer it")
@click.option(
    "--user-wav", type=OutputFile(".wav"), default=None, help="--script: keep the spoken user side here"
)
@_RECORD
@click.option("--realtime/--fast", default=False, help="files: play at real time or as fast as possible")
@click.option("--host", default="127.0.0.1", show_default=True, help="browser mode: address to listen on")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=7860,
    show_default=True,
    help="browser mode: port (0: any)",
)
@click.option(
    "--max-sessions", type=click.IntRange(min=1), default=4, show_default=True, help="browser mode: callers"
)
def demo(
    input_path: str | None,
    output_path: Path | None,
    config_path: str | None,
    script: bool,
    user_wav: Path | None,
    record_path: Path | None,
    realtime: bool,
    host: str,
    port: int,
    max_sessions: int,
) -> None:
    """The offline demo agent (no network, no keys): Silero VAD, pocketsphinx, scripted agent, espeak.

    With no options it serves the browser page over WebRTC at http://127.0.0.1:7860; --script or
    --input run it on WAV files instead.
    """
    if not script and not input_path:
        for flag, value in (("--output", output_path), ("--user-wav", user_wav)):
            if value is not None:
                raise click.UsageError(f"{flag} is for file runs: add --input FILE or --script")
        _serve_webrtc(config_path, host, port, max_sessions, record_path)
        return
    if script and input_path:
        raise click.UsageError("--script makes its own input: use either --script or --input")
    valid_config(config_path)  # before the script is spoken: a bad config wastes no work
    if script:
        from voiceframe.demo import DEMO_SCRIPT, make_script_wav

        user = _default_output(user_wav, "user.wav")
        make_script_wav(user)
        click.echo(f"the demo user says: {' / '.join(t for _, t in DEMO_SCRIPT)}  ({user})")
        input_path = str(user)
    assert input_path is not None
    _run_files(config_path, input_path, output_path, record_path, virtual=not realtime)


@main.command(name="run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_path", type=WavInput(), required=True, help="WAV file to answer")
@click.option(
    "--output", "output_path", type=OutputFile(".wav"), default=None, help="reply WAV [a temp folder]"
)
@_RECORD
@click.option(
    "--realtime/--fast", default=True, help="real time for cloud providers; --fast for offline ones"
)
def run_config(
    config: str, input_path: str, output_path: Path | None, record_path: Path | None, realtime: bool
) -> None:
    """Run the pipeline described by CONFIG on a WAV file."""
    _run_files(config, input_path, output_path, record_path, virtual=not realtime)


from voiceframe.observe.timeline import timeline_command  # noqa: E402

main.add_command(timeline_command)
main.add_command(__import__("voiceframe.evals.cli", fromlist=["eval_command"]).eval_command)
main.add_command(__import__("voiceframe.bench.cli", fromlist=["bench"]).bench)

if __name__ == "__main__":
    main()
