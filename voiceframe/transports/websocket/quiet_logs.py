"""uvicorn log records that a hostile client can trigger at will, reduced to one line without a traceback.

uvicorn logs ``Invalid UTF-8 sequence received from client.`` with a full traceback for every text
message that is not UTF-8 (and then closes the connection with 1007): a client can fill the log with
them. The session itself records the close (1007, "text message is not valid UTF-8").
"""

from __future__ import annotations

import logging

__all__ = ["install_uvicorn_filters"]

_CLIENT_CAUSED = ("Invalid UTF-8 sequence",)


class _ClientFaultFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if any(str(record.msg).startswith(m) for m in _CLIENT_CAUSED):
            record.exc_info = None  # the client's mistake, not ours: no traceback
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_filter = _ClientFaultFilter()


def install_uvicorn_filters() -> None:
    """Idempotent: adds the filter to uvicorn's error logger once."""
    log = logging.getLogger("uvicorn.error")
    if _filter not in log.filters:
        log.addFilter(_filter)
