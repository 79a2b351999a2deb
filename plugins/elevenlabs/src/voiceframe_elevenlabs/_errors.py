"""ElevenLabs failures as service errors (the policy is voiceframe.services.http_errors')."""

from __future__ import annotations

import json
from collections.abc import Mapping

from voiceframe.services.http_errors import (
    RateLimitedError,
    body_text,
    describe_body,
    require_key,
    retry_after,
)
from voiceframe.services.http_errors import error_for_status as _error_for_status

ENV = "ELEVENLABS_API_KEY"

__all__ = ["ENV", "RateLimitedError", "describe", "http_error", "require_key", "retry_after"]


def describe(body: bytes | bytearray | str, headers: Mapping[str, str]) -> str:
    """The error text of a refused upgrade: ``detail.status/message``, ``error``/``message``, or the body."""
    try:
        data = json.loads(body_text(body))
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = data.get("detail")  # REST-style {"detail": {"status": ..., "message": ...}}
        if isinstance(detail, dict):
            return f"{detail.get('status', '?')}: {detail.get('message', '')}"
    return describe_body(body)


def http_error(status: int, body: bytes | bytearray | str, headers: Mapping[str, str]) -> Exception:
    """The exception for a failed request or WebSocket upgrade."""
    return _error_for_status("ElevenLabs", ENV, status, describe(body, headers), headers)
