import pytest
from pydantic import SecretStr

from voiceframe.services.backoff import Backoff, GiveUpError, retry
from voiceframe.services.settings import MissingSecretError, ServiceSettings, SettingsError


class KeyedSettings(ServiceSettings):
    secret_env = {"api_key": "FAKEPROVIDER_API_KEY"}
    api_key: SecretStr | None = None
    model: str = "m1"
    temperature: float = 0.7


def test_unknown_setting_lists_the_known_ones() -> None:
    with pytest.raises(
        SettingsError, match=r"\[llm\]\.modle: unknown setting; known settings: api_key, model"
    ):
        KeyedSettings.from_config({"modle": "x"}, where="[llm]")
    with pytest.raises(SettingsError, match=r"unknown setting.*modle.*known settings"):
        KeyedSettings().apply({"modle": "x"})


def test_invalid_value_names_the_key() -> None:
    with pytest.raises(SettingsError, match=r"\[llm\]\.temperature: Input should be a valid number"):
        KeyedSettings.from_config({"temperature": "hot"}, where="[llm]")


def test_secrets_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="set the environment variable FAKEPROVIDER_API_KEY instead"):
        KeyedSettings.from_config({"api_key": "sk-in-file"}, where="[llm]")
    monkeypatch.delenv("FAKEPROVIDER_API_KEY", raising=False)
    with pytest.raises(MissingSecretError, match="set the environment variable FAKEPROVIDER_API_KEY"):
        KeyedSettings.from_config({}).require_secret("api_key")
    monkeypatch.setenv("FAKEPROVIDER_API_KEY", "sk-env")
    assert KeyedSettings.from_config({}).require_secret("api_key") == "sk-env"


def test_apply_returns_a_validated_copy() -> None:
    s = KeyedSettings()
    t = s.apply({"model": "m2"})
    assert (s.model, t.model) == ("m1", "m2")


def test_backoff_grows_and_caps() -> None:
    b = Backoff(initial=0.5, factor=2, maximum=3)
    assert [b.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 3.0]
    b.reset()
    assert b.next_delay() == 0.5


async def test_retry_sleeps_with_backoff_then_gives_up() -> None:
    from voiceframe.clock import virtual_time
    from voiceframe.frames import now

    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(now())
        if len(attempts) < 3:
            raise ConnectionError("refused")
        return "ok"

    with virtual_time():
        start = now()
        assert await retry(flaky, backoff=Backoff(initial=1, factor=2)) == "ok"
        assert [round(t - start, 3) for t in attempts] == [0.0, 1.0, 3.0]

        async def dead() -> str:
            raise ConnectionError("refused")

        with pytest.raises(GiveUpError, match="gave up after 2 attempts: ConnectionError: refused"):
            await retry(dead, max_attempts=2)
