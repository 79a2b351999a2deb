"""Command-line argument types that check a file before any work starts (click reports the reason).

A user mistake must be one line naming what is wrong and how to fix it, never a traceback, and it must
come before a long conversation runs, not after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

__all__ = ["OutputFile", "WavInput"]


class WavInput(click.ParamType[str]):
    """An existing, non-empty PCM WAV file (any rate and channel count: the pipeline converts it)."""

    name = "wav"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from voiceframe.transports.file import check_wav

        path = Path(value)
        if not path.exists():
            self.fail(f"{value}: no such file", param, ctx)
        if path.is_dir():
            self.fail(f"{value} is a folder; give a WAV file", param, ctx)
        try:
            check_wav(path)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return str(path)


class OutputFile(click.ParamType[Path]):
    """A file to write: its folder must exist and be writable, and it must not be a folder itself."""

    name = "file"

    def __init__(self, suffix: str | None = None) -> None:
        self.suffix = suffix

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value)
        folder = path.parent
        if path.is_dir():
            self.fail(
                f"{value} is a folder; give a file name, e.g. {path / ('out' + (self.suffix or ''))}",
                param,
                ctx,
            )
        if not folder.is_dir():
            self.fail(
                f"cannot write {value}: the folder {folder} does not exist; create it first", param, ctx
            )
        if not os.access(folder, os.W_OK):
            self.fail(f"cannot write {value}: no permission to write in {folder}", param, ctx)
        if self.suffix and path.suffix.lower() != self.suffix:
            self.fail(f"{value}: the file name must end in {self.suffix}", param, ctx)
        return path
