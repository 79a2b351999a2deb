"""Fixtures for the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_twilio_auth_token_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers check Twilio signatures whenever TWILIO_AUTH_TOKEN is set; tests that want it set it."""
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
