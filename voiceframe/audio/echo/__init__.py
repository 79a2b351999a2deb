"""The bot's own voice in the user's microphone: estimated from what the bot played, and kept from
interrupting the bot (see :mod:`voiceframe.audio.echo.guard`)."""

from voiceframe.audio.echo.estimator import BLOCK_SECS, EchoEstimator
from voiceframe.audio.echo.guard import EchoGuard, EchoReferenceTap

__all__ = ["BLOCK_SECS", "EchoEstimator", "EchoGuard", "EchoReferenceTap"]
