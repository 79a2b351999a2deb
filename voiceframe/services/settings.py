"""Service settings: pydantic models, validated on creation and on every run-time update.

Secrets never come from config files: a settings field marked ``secret_env`` reads its value from that
environment variable, and a missing variable is an error that names it.

>>> class MySettings(ServiceSettings):
...     model: str = "small"
>>> s = MySettings()
>>> s.apply({"model": "large"}).model
'large'
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError


class SettingsError(ValueError):
    """Settings that are unknown, invalid or missing; the message says which and how to fix them."""


class MissingSecretError(SettingsError):
    """An API key or other secret is not in the environment."""


class ServiceSettings(BaseModel):
    """Base of every service's settings. Unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: for each secret field, the environment variable it is read from
    secret_env: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_config(cls, values: dict[str, Any], *, where: str = "settings") -> ServiceSettings:
        """Build settings from config values plus secrets from the environment."""
        for field, env in cls.secret_env.items():
            if field in values:
                raise SettingsError(
                    f"{where}.{field}: secrets must not be written in config files; "
                    f"set the environment variable {env} instead"
                )
        merged = dict(values)
        for field, env in cls.secret_env.items():
            value = os.environ.get(env)
            if value:
                merged[field] = value
        try:
            return cls(**merged)
        except ValidationError as exc:
            raise SettingsError(describe_validation_error(exc, where, cls)) from None

    def require_secret(self, field: str) -> str:
        """The secret's value, or an error naming the environment variable to set."""
        value = getattr(self, field, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value:
            env = self.secret_env.get(field, field.upper())
            raise MissingSecretError(
                f"{type(self).__name__}: missing {field}; set the environment variable {env}"
            )
        return str(value)

    def apply(self, changes: dict[str, Any]) -> ServiceSettings:
        """A copy with ``changes`` applied and validated (the original is left as it was)."""
        known = set(type(self).model_fields)
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SettingsError(
                f"{type(self).__name__}: unknown setting(s) {', '.join(unknown)}; "
                f"known settings: {', '.join(sorted(known))}"
            )
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SettingsError(describe_validation_error(exc, type(self).__name__, type(self))) from None


def describe_validation_error(exc: ValidationError, where: str, model: type[BaseModel]) -> str:
    """One line per problem, each naming the key path."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(settings)"
        if err["type"] == "extra_forbidden":
            known = ", ".join(sorted(model.model_fields))
            lines.append(f"{where}.{path}: unknown setting; known settings: {known}")
        else:
            lines.append(f"{where}.{path}: {err['msg']}")
    return "; ".join(lines)
