"""The framework's logger (loguru), imported lazily so ``import voiceframe`` stays fast.

Every line logged inside a session carries its ``session_id`` in ``record["extra"]`` (the task runs
inside ``logger.contextualize``); lines outside a session get ``"-"``. :func:`setup_logging` installs a
stderr sink whose format shows it::

    from voiceframe.log import logger, setup_logging
    setup_logging("INFO")
    logger.info("hello")      # 12:00:00.000 | INFO | session-1 | hello
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["FORMAT", "logger", "redact", "setup_logging"]

FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "<cyan>{extra[session_id]}</cyan> | <level>{message}</level>"
)


#: credentials a provider's error body may echo back (``Authorization: Bearer ...``, ``"api_key": "..."``)
_SECRETS = re.compile(
    r"""(?ix)
    (\b(?:authorization|proxy-authorization|x-api-key|api[-_]?key|xi-api-key)\b["']?\s*[:=]\s*["']?)
    ((?:bearer\s+|basic\s+|token\s+)?)
    ([^\s"',;}]+)
    """
)


def redact(text: str) -> str:
    """``text`` with credential values replaced by ``[redacted]`` (the header name stays)."""
    return _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


def _default_session(record: Record) -> None:
    # a format that names {extra[session_id]} must not fail on lines logged outside a session
    record["extra"].setdefault("session_id", "-")
    # provider error bodies are logged at debug level; some echo the request's Authorization header
    message = record["message"]
    if "uthoriz" in message or "key" in message.lower():
        record["message"] = redact(message)


logger = _logger.patch(_default_session)


def setup_logging(level: str | int = "INFO", sink: Any = sys.stderr, *, replace: bool = True) -> int:
    """Add a handler showing the session id (replacing loguru's others); returns the handler id."""
    if replace:
        _logger.remove()
    # diagnose=False: a traceback must not print local variables (a key in a local would be printed)
    return _logger.add(sink, level=level, format=_format, diagnose=False)


def _format(record: Record) -> str:
    _default_session(record)  # also for lines logged through loguru's own logger object
    return FORMAT + "\n{exception}"
