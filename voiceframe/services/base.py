"""What every AI service shares: settings, connection life, metrics, errors.

A service is a :class:`~voiceframe.processor.QueuedFrameProcessor`: requests queue in order, an
interruption cancels the request in flight within the same event-loop tick.

Subclasses set ``kind`` ("stt", "llm", "tts") and ``Settings`` (a :class:`ServiceSettings` model), and
override :meth:`connect` / :meth:`disconnect` when they hold a connection.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from voiceframe.frames import (
    CancelFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    InterruptionFrame,
    SettingsScope,
    StartFrame,
    UpdateSettingsFrame,
)
from voiceframe.observe.metrics import ProcessorMetrics
from voiceframe.processor import UPSTREAM, FrameDirection, QueuedFrameProcessor
from voiceframe.services.backoff import Backoff, GiveUpError, retry
from voiceframe.services.settings import ServiceSettings, SettingsError


class ServiceError(RuntimeError):
    """A provider failed in a way the caller should hear about (auth, protocol, rate limit...)."""

    def __init__(self, message: str, *, fatal: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.retry_after = retry_after


class AIService(QueuedFrameProcessor):
    """Base of STT, LLM and TTS services."""

    kind: ClassVar[str] = "service"
    Settings: ClassVar[type[ServiceSettings]] = ServiceSettings
    #: connection attempts at start (with exponential backoff) before the service reports a fatal error
    connect_attempts: ClassVar[int] = 3

    def __init__(
        self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any
    ) -> None:
        super().__init__(name=name)
        if settings is not None and values:
            raise TypeError(f"{type(self).__name__}: pass either settings= or keyword settings, not both")
        if settings is None:
            settings = self.Settings.from_config(values, where=type(self).__name__)
        elif not isinstance(settings, self.Settings):
            raise TypeError(
                f"{type(self).__name__} needs {self.Settings.__name__}, got {type(settings).__name__}"
            )
        self.settings: Any = settings
        self.metrics = ProcessorMetrics(self, model=getattr(settings, "model", None))
        self.backoff = Backoff()
        self.connected = False
        #: said instead of silence when this service fails (None: report the error only). The bot sets
        #: it from ``[bot] apology``; a FallbackService clears it on its services and says it itself.
        self.apology: str | None = None

    # ----------------------------------------------------------------------------- to override

    async def connect(self) -> None:
        """Open the provider connection (called at start and on reconnect)."""

    async def disconnect(self) -> None:
        """Close the provider connection."""

    async def on_settings_changed(self, old: ServiceSettings, new: ServiceSettings) -> None:
        """Settings changed at run time (reconnect here if the connection depends on them)."""

    # -------------------------------------------------------------------------------- lifecycle

    async def on_start(self, frame: StartFrame) -> None:
        self.metrics.enabled = frame.enable_metrics
        # a provider out of reach: with an apology the session goes on, the first turn that needs
        # this service tries again and, if it still fails, the caller hears the apology. A missing or
        # rejected key is a configuration mistake: fatal at once, so the peer is told why.
        later = "; trying again at the first use" if self.apology else ""
        try:
            await retry(self._connect_once, backoff=self.backoff, max_attempts=self.connect_attempts)
        except GiveUpError as exc:
            await self.push_error(
                f"{self.name}: could not connect: {exc}{later}", fatal=not later, exception=exc
            )
        except ServiceError as exc:
            await self.push_error(
                f"{self.name}: {exc}{'' if exc.fatal else later}", fatal=exc.fatal, exception=exc
            )

    async def _connect_once(self) -> None:
        # a provider that accepts the TCP connection and never answers must not hold the session's
        # start: each attempt gets the service's first-byte deadline
        limit = getattr(self.settings, "first_byte_timeout", None)
        try:
            async with asyncio.timeout(limit):
                await self.connect()
        except TimeoutError as exc:
            if isinstance(exc, ServiceError):
                raise
            raise TimeoutError(f"{self.name}: no answer to the connection within {limit:g} s") from None
        self.connected = True

    async def reconnect(self) -> bool:
        """Close and open the connection again with backoff; False (and an error pushed) if it fails."""
        await self._safe_disconnect()
        try:
            await retry(self._connect_once, backoff=self.backoff, max_attempts=self.connect_attempts)
            return True
        except (GiveUpError, ServiceError) as exc:
            await self.push_error(f"{self.name}: reconnect failed: {exc}", exception=exc)
            return False

    async def _safe_disconnect(self) -> None:
        if self.connected:
            self.connected = False
            try:
                await self.disconnect()
            except Exception as exc:  # a broken connection may fail to close; that is not news
                from voiceframe.log import logger

                logger.debug("{}: disconnect failed: {}", self.name, exc)

    async def on_end(self, frame: EndFrame) -> None:
        await self._safe_disconnect()

    async def on_cancel(self, frame: CancelFrame) -> None:
        await self._safe_disconnect()

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self.metrics.reset()

    # ---------------------------------------------------------------------------------- frames

    def _settings_apply_to_me(self, frame: UpdateSettingsFrame) -> bool:
        if frame.target is not None:
            return frame.target == self.name
        return frame.scope.value == self.kind or (
            frame.scope is SettingsScope.ANY and self.kind in ("stt", "llm", "tts")
        )

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, UpdateSettingsFrame) and self._settings_apply_to_me(frame):
            await self.update_settings(frame.settings)
            return
        await self.handle(frame, direction)

    async def update_settings(self, changes: dict[str, Any]) -> None:
        """Validate and apply ``changes``; an invalid change is reported and nothing changes."""
        old = self.settings
        try:
            new = old.apply(changes)
        except SettingsError as exc:
            await self.push_error(f"{self.name}: {exc}", exception=exc)
            return
        self.settings = new
        if hasattr(new, "model"):
            self.metrics.model = new.model
        await self.on_settings_changed(old, new)

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        """Handle a frame that is not a settings update. The default passes it on."""
        await self.push(frame, direction)

    async def report(self, exc: BaseException, *, context: str = "") -> None:
        """Turn a provider failure into an ErrorFrame (fatal if the error says so)."""
        fatal = isinstance(exc, ServiceError) and exc.fatal
        where = f" {context}" if context else ""
        await self.push_error(f"{self.name}{where}: {type(exc).__name__}: {exc}", fatal=fatal, exception=exc)

    async def fail(self, exc: BaseException, *, context: str = "", then: Frame | None = None) -> None:
        """Report a provider failure, push ``then`` (e.g. the end of the failed response), and say the
        apology (if set) so the caller does not hear silence.

        A fatal failure with an apology is reported non-fatal and ends the session gracefully
        (``EndTaskFrame``): a cancel would cut the apology before it is heard.
        """
        from voiceframe.services.apology import apology_frames

        if not self.apology:
            await self.report(exc, context=context)
            if then is not None:
                await self.push(then)
            return
        fatal = isinstance(exc, ServiceError) and exc.fatal
        where = f" {context}" if context else ""
        message = f"{self.name}{where}: {type(exc).__name__}: {exc}"
        await self.push_error(message + ("; ending the session" if fatal else ""), exception=exc)
        if then is not None:
            await self.push(then)
        for frame in apology_frames(self.kind, self.apology):
            await self.push(frame)
        if fatal:
            await self.push(EndTaskFrame(reason=message), UPSTREAM)
