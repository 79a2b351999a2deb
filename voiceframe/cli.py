"""The ``voiceframe`` command.

* ``voiceframe plugins``: installed providers and their settings.
* ``voiceframe run bot.toml``: run the pipeline a config file describes.
* ``voiceframe demo``: the offline demo agent (browser page over WebRTC, or WAV files).
"""

from __future__ import annotations

import sys
from typing import Any

import click


@click.group()
@click.version_option(package_name="voiceframe")
def main() -> None:
    """voiceframe: real-time voice agents from typed frames and composable processors."""


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
@click.argument("config", type=click.Path(dir_okay=False))
def check(config: str) -> None:
    """Validate a bot config file and build its services (no audio runs)."""
    from voiceframe.config import SERVICE_SECTIONS, ConfigError, load_config

    try:
        cfg = load_config(config)
        for section in SERVICE_SECTIONS:
            if cfg.section(section) is not None:
                service = cfg.build_service(section)
                click.echo(f"[{section}] {cfg.sections[section].provider}: {service.name} ok")
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _run_files(config_path: str | None, input_path: str, output_path: str, *, virtual: bool) -> None:
    from voiceframe.bot import build_bot, run_bot
    from voiceframe.clock import run
    from voiceframe.config import ConfigError, load_config
    from voiceframe.demo import DEMO_TOOLS, demo_config
    from voiceframe.observe.conversation import ConversationLog
    from voiceframe.task import PipelineParams
    from voiceframe.transports.file import FileTransport

    try:
        config = load_config(config_path) if config_path else demo_config()
        transport = FileTransport(input_path, output_path)
        bot = build_bot(config, transport, tools=DEMO_TOOLS)
    except (ConfigError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    log = ConversationLog(on_line=click.echo)
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=16000)
    task = run(run_bot(bot, observers=[log], params=params), virtual=virtual)
    latencies = [t.latency for t in log.turns if t.latency is not None]
    if latencies:
        click.echo(
            f"{len(latencies)} answered turns; latency (end of user speech -> first bot audio): "
            f"median {sorted(latencies)[len(latencies) // 2]:.2f} s, max {max(latencies):.2f} s"
        )
    click.echo(f"reply audio written to {output_path}")
    for error in task.errors:
        click.echo(f"error: {error.error}", err=True)
    if task.errors:
        sys.exit(1)


def _serve_webrtc(config_path: str | None, host: str, port: int, max_sessions: int) -> None:
    import asyncio

    from voiceframe.config import ConfigError, load_config
    from voiceframe.demo import DEMO_TOOLS, demo_config

    try:
        from voiceframe.transports.webrtc import WebRTCServer, bot_session_factory
    except ImportError as exc:
        click.echo(
            f"error: the browser demo needs aiortc ({exc}): pip install 'voiceframe[webrtc]'", err=True
        )
        sys.exit(2)
    try:
        config = load_config(config_path) if config_path else demo_config()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    server = WebRTCServer(bot_session_factory(config, DEMO_TOOLS), max_sessions=max_sessions)

    async def serve() -> None:
        try:
            url = await server.serve(host, port)
        except OSError as exc:
            click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}; try --port", err=True)
            sys.exit(2)
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


@main.command()
@click.option(
    "--input", "input_path", type=click.Path(exists=True, dir_okay=False), help="WAV file to answer"
)
@click.option("--output", "output_path", type=click.Path(dir_okay=False), default="demo-reply.wav")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--script", is_flag=True, help="speak a made-up conversation with espeak and answer it")
@click.option("--realtime/--fast", default=False, help="files: play at real time or as fast as possible")
@click.option("--host", default="127.0.0.1", show_default=True, help="browser mode: address to listen on")
@click.option("--port", default=7860, show_default=True, help="browser mode: port to listen on")
@click.option("--max-sessions", default=4, show_default=True, help="browser mode: concurrent callers")
def demo(
    input_path: str | None,
    output_path: str,
    config_path: str | None,
    script: bool,
    realtime: bool,
    host: str,
    port: int,
    max_sessions: int,
) -> None:
    """The offline demo agent (no network, no keys): Silero VAD, pocketsphinx, scripted agent, espeak.

    With no options it serves the browser page over WebRTC at http://127.0.0.1:7860; --script or
    --input/--output run it on WAV files instead.
    """
    if not script and not input_path:
        _serve_webrtc(config_path, host, port, max_sessions)
        return
    if script or not input_path:
        from voiceframe.demo import DEMO_SCRIPT, make_script_wav

        input_path = "demo-user.wav"
        make_script_wav(input_path)
        click.echo(f"the demo user says: {' / '.join(t for _, t in DEMO_SCRIPT)}  ({input_path})")
    _run_files(config_path, input_path, output_path, virtual=not realtime)


@main.command(name="run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--output", "output_path", type=click.Path(dir_okay=False), default="reply.wav")
@click.option(
    "--realtime/--fast", default=True, help="real time for cloud providers; --fast for offline ones"
)
def run_config(config: str, input_path: str, output_path: str, realtime: bool) -> None:
    """Run the pipeline described by CONFIG on a WAV file."""
    _run_files(config, input_path, output_path, virtual=not realtime)


from voiceframe.observe.timeline import timeline_command  # noqa: E402

main.add_command(timeline_command)
main.add_command(__import__("voiceframe.evals.cli", fromlist=["eval_command"]).eval_command)
main.add_command(__import__("voiceframe.bench.cli", fromlist=["bench"]).bench)

if __name__ == "__main__":
    main()
