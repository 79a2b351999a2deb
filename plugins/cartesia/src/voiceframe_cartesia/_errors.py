"""Cartesia failures as service errors (the policy is voiceframe.services.http_errors')."""

from __future__ import annotations

from collections.abc import Mapping

from voiceframe.services.http_errors import (
    RateLimitedError,
    describe_body,
    require_key,
    retry_after,
)
from voiceframe.services.http_errors import error_for_status as _error_for_status

ENV = "CARTESIA_API_KEY"

__all__ = ["ENV", "RateLimitedError", "describe", "http_error", "require_key", "retry_after"]


def describe(body: bytes | bytearray | str, headers: Mapping[str, str]) -> str:
    """The error text of a refused upgrade: a JSON ``error``/``message`` field, or the body itself."""
    return describe_body(body)


def http_error(status: int, body: bytes | bytearray | str, headers: Mapping[str, str]) -> Exception:
    """The exception for a failed request or WebSocket upgrade."""
    return _error_for_status("Cartesia", ENV, status, describe(body, headers), headers)
