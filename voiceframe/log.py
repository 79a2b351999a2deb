"""The framework's logger (loguru), imported lazily so ``import voiceframe`` stays fast.

Every line logged inside a session carries its ``session_id`` (bound by the task)::

    from voiceframe.log import logger
    logger.info("hello")
"""

from __future__ import annotations

from loguru import logger

__all__ = ["logger"]
