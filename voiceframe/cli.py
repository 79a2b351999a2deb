"""The ``voiceframe`` command.

* ``voiceframe plugins``: installed providers and their settings.
* ``voiceframe run bot.toml``: run the pipeline a config file describes.
* ``voiceframe demo``: the offline demo agent.
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


if __name__ == "__main__":
    main()
