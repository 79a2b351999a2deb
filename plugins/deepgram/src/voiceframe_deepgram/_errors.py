"""Deepgram failures as service errors (the policy is voiceframe.services.http_errors')."""

from __future__ import annotations

import json
from collections.abc import Mapping

from voiceframe.services.http_errors import RateLimitedError, body_text, require_key, retry_after
from voiceframe.services.http_errors import error_for_status as _error_for_status

ENV = "DEEPGRAM_API_KEY"

__all__ = ["ENV", "RateLimitedError", "describe", "http_error", "require_key", "retry_after"]


def describe(body: bytes | bytearray | str, headers: Mapping[str, str]) -> str:
    """Deepgram's error text: the ``dg-error`` header (WebSocket upgrade) or the JSON body."""
    text = body_text(body)
    try:
        data = json.loads(text)
        if isinstance(data, dict) and ("err_code" in data or "err_msg" in data):
            return f"{data.get('err_code', '?')}: {data.get('err_msg', '')}".strip()
    except ValueError:
        pass
    return headers.get("dg-error") or text.strip()[:200] or "no details"


def http_error(status: int, body: bytes | bytearray | str, headers: Mapping[str, str]) -> Exception:
    """The exception for a failed request or WebSocket upgrade."""
    return _error_for_status("Deepgram", ENV, status, describe(body, headers), headers)
